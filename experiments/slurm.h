// The Slurm backend's pieces that know nothing of run folders: the checks of its options,
// the sbatch command line, the array task's script, and the queue as squeue reports it.
// Internal to the armfarm program (experiments/run.c uses them), not part of the library.
#ifndef AF_SLURM_H
#define AF_SLURM_H

#include <stddef.h>  // size_t

// what a submission asks Slurm for (NULL / 0: Slurm's default, or none)
typedef struct {
  const char *partition;  // --partition
  const char *time;       // --time, in one of Slurm's formats (af_slurm_check_time)
  long cpus;              // --cpus-per-task, 1 to 256
  long throttle;          // %K of --array: tasks at a time (0: no limit)
  int requeue;            // --requeue (else --no-requeue)
} af_slurm_opts;

// a time limit in one of Slurm's formats: minutes, minutes:seconds, hours:minutes:seconds,
// days-hours, days-hours:minutes, days-hours:minutes:seconds; digits only, seconds and the
// minutes after hours below 60, the hours after days below 24, more than zero in all. 0 or -1
int af_slurm_check_time(const char *s);

// a partition name, or several separated by commas: each of [A-Za-z0-9_.-], at most 64
// characters in all. 0 or -1
int af_slurm_check_partition(const char *s);

// 1 when the program is an executable file in a folder of PATH, else 0
int af_slurm_on_path(const char *prog);

// the array task's script (OUT/slurm/array.sh): sbatch passes it the armfarm program, the
// output folder and the list of run ids; it maps SLURM_ARRAY_TASK_ID to line N + 1 of the
// list and executes `armfarm run --slurm-task OUT/ID`
extern const char af_slurm_script[];

// the sbatch command (NULL-terminated, owned: af_slurm_argv_free) that submits `ntasks`
// array tasks held (--hold), each running `script armfarm out list`, output appended to
// out/slurm/sub_SUB_%a.out; NULL when out of memory
char **af_slurm_sbatch_argv(const af_slurm_opts *o, const char *name, int ntasks, int sub, const char *script, const char *armfarm,
                            const char *out, const char *list);
void af_slurm_argv_free(char **argv);

// the job id in sbatch --parsable's output ("123" or "123;cluster" on a line of its own)
// into id (idsz bytes); 0, or -1 when there is none
int af_slurm_parse_job(const char *output, char *id, size_t idsz);

// a program run from an argument vector (no shell), its standard output and error together
// into *out (owned, NUL-terminated; the reason when it could not be started): its exit
// status (128 + N after signal N), or -1 when it could not be started or waited for
int af_slurm_capture(char *const argv[], char **out);

// the array tasks in the queue, as `squeue -h -r --me -o "%i %T"` lists them
typedef struct {
  char **task;  // "JOB_TASK"
  int *state;   // AF_SLURM_PENDING or AF_SLURM_RUNNING
  int n;
} af_slurm_queue;
enum { AF_SLURM_GONE = 0, AF_SLURM_PENDING = 1, AF_SLURM_RUNNING = 2 };

// the queue read through squeue; 0, or -1 when squeue cannot be run or fails (q is empty then)
int af_slurm_queue_read(af_slurm_queue *q);
// task `task` of array job `job`: AF_SLURM_PENDING, AF_SLURM_RUNNING, or AF_SLURM_GONE when
// the queue does not hold it waiting or running (ended, cancelled or never submitted)
int af_slurm_queue_state(const af_slurm_queue *q, const char *job, int task);
void af_slurm_queue_free(af_slurm_queue *q);

#endif
