// The environments compiled in, one line each: AF_ENV(name) for the file envs/<name>.c that
// defines `const af_env_def af_<name>_def`. This list expands into the externs (env_impl.h)
// and the registry (env.c), and CMake reads it for the sources; the order is the order of
// af_env_name and of every listing. No include guard: it is included once per expansion.
AF_ENV(puck_push)
AF_ENV(quadruped)
AF_ENV(pendulum)
AF_ENV(bin_grasp)
AF_ENV(door_open)
AF_ENV(cloth_drape)
