# Bad input raises Python exceptions carrying the library's one-line message; each is an
# armfarm.Error and the built-in it means (ArgumentError is a ValueError, StateError a
# RuntimeError, UnsupportedError a NotImplementedError).
import numpy as np
import pytest

import armfarm


def test_exception_classes():
    assert issubclass(armfarm.ArgumentError, armfarm.Error) and issubclass(armfarm.ArgumentError, ValueError)
    assert issubclass(armfarm.StateError, RuntimeError) and issubclass(armfarm.UnsupportedError, NotImplementedError)
    assert issubclass(armfarm.NumericError, ArithmeticError) and issubclass(armfarm.IOError, OSError)


def test_unknown_environment():
    with pytest.raises(armfarm.ArgumentError, match=r"unknown environment 'pendulm' \(available: .*pendulum"):
        armfarm.make("pendulm")
    with pytest.raises(armfarm.ArgumentError, match="unknown environment"):
        armfarm.VectorEnv("pendulm", 2)


def test_bad_config_keys_and_values():
    with pytest.raises(armfarm.ArgumentError, match=r"unknown config key 'horizn' \(did you mean 'horizon'\?\)"):
        armfarm.make("pendulum", horizn=10)
    with pytest.raises(armfarm.ArgumentError, match="horizon"):
        armfarm.make("pendulum", horizon=-3)
    with pytest.raises(armfarm.ArgumentError, match="reward"):
        armfarm.make("puck_push", reward="sparsest")
    with pytest.raises(armfarm.ArgumentError, match="JSON values"):
        armfarm.make("pendulum", horizon={1, 2})
    with pytest.raises(armfarm.ArgumentError, match="randomize"):
        armfarm.make("puck_push", randomize={"puck_mass": "heavy"})
    with pytest.raises(armfarm.ArgumentError, match="number of environments"):
        armfarm.VectorEnv("pendulum", 0)
    # good values of every JSON kind, NumPy scalars included
    env = armfarm.make("puck_push", reward="sparse", horizon=np.int64(20), randomize={"puck_mass": [0.5, 2.0]})
    assert env.armfarm_spec["horizon"] == 20 and env.armfarm_spec["config"]["reward"] == "sparse"


def test_bad_actions():
    env = armfarm.make("puck_push")
    env.reset(seed=0)
    with pytest.raises(armfarm.ArgumentError, match=r"shape \(3,\), expected \(4,\)"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(armfarm.ArgumentError, match="expected"):
        env.step(np.zeros((1, 4), np.float32))
    with pytest.raises(TypeError, match="real numbers"):
        env.step(np.array(["a", "b", "c", "d"]))
    with pytest.raises(TypeError, match="real numbers"):
        env.step(np.zeros(4, np.complex64))
    vec = armfarm.VectorEnv("puck_push", 2)
    vec.reset(seed=0)
    with pytest.raises(armfarm.ArgumentError, match=r"expected \(2, 4\)"):
        vec.step(np.zeros(4, np.float32))


def test_nan_action_is_refused_and_changes_nothing():
    # a single environment refuses a NaN (the library's AF_ERR_ARG) and is left as it was: the
    # next valid step gives what it would have given; end_diverged() ends the episode instead
    env, ref = armfarm.make("pendulum"), armfarm.make("pendulum")
    env.reset(seed=4)
    ref.reset(seed=4)
    with pytest.raises(armfarm.ArgumentError, match=r"pendulum: action\[0\] is NaN; step refused"):
        env.step(np.array([np.nan], np.float32))
    with pytest.raises(armfarm.ArgumentError, match="infinite"):
        env.step(np.array([np.inf]))
    a = np.array([0.3], np.float32)
    assert env.step(a)[0].tobytes() == ref.step(a)[0].tobytes()
    obs, r, te, tr, info = env.end_diverged()
    assert r == 0 and tr and not te and info["diverged"] and info["episode"]["diverged"]
    assert env.diverged_count == 1
    with pytest.raises(armfarm.StateError):
        env.step(a)


def test_out_of_order_calls():
    env = armfarm.make("pendulum")
    with pytest.raises(armfarm.StateError, match="pendulum: step called before reset"):
        env.step(np.zeros(1, np.float32))
    with pytest.raises(armfarm.StateError, match="no episode"):
        env.end_diverged()
    with pytest.raises(armfarm.StateError, match="reset"):
        env.render()
    vec = armfarm.VectorEnv("pendulum", 2)
    with pytest.raises(armfarm.StateError, match="step called before reset"):
        vec.step(np.zeros((2, 1), np.float32))
    env.close()
    env.close()  # twice is fine
    with pytest.raises(armfarm.StateError, match="closed"):
        env.reset(seed=0)


def test_bad_seeds_and_options():
    env = armfarm.make("pendulum")
    with pytest.raises(armfarm.ArgumentError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(armfarm.ArgumentError, match="seed"):
        env.reset(seed=2 ** 64)
    with pytest.raises(TypeError):
        env.reset(seed=1.5)
    with pytest.raises(armfarm.ArgumentError, match="unknown option"):
        env.reset(seed=0, options={"colour": 1})
    with pytest.raises(armfarm.UnsupportedError):
        env.reset(seed=0, options={"difficulty": 0.5})  # the pendulum has no curriculum
    env.reset(seed=2 ** 64 - 1)


def test_unsupported_features():
    env = armfarm.make("pendulum")
    env.reset(seed=0)
    with pytest.raises(armfarm.UnsupportedError, match="not goal-conditioned"):
        env.compute_reward(np.zeros(1), np.zeros(1), {})
    with pytest.raises(armfarm.UnsupportedError, match="success examples"):
        env.success_examples(3, 0)
    with pytest.raises(armfarm.UnsupportedError):
        env.scripted_action()
