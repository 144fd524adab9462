"""An exported ONNX policy checked by onnx.checker, then evaluated node by node in NumPy
(written here from the ONNX operator definitions, not by any ONNX runtime) on the
observations of a CSV; the actions are printed as armfarm policy prints them.
usage: onnx_eval.py MODEL.onnx OBS.csv > ACTIONS.csv"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def run(model, obs):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = obs.astype(np.float32)
    for n in model.graph.node:
        x = [env[i] for i in n.input]
        if n.op_type == "Sub":
            y = x[0] - x[1]
        elif n.op_type == "Div":
            y = x[0] / x[1]
        elif n.op_type == "Clip":
            y = np.minimum(np.maximum(x[0], x[1]), x[2])
        elif n.op_type == "MatMul":
            y = (x[0].astype(np.float64) @ x[1].astype(np.float64)).astype(np.float32)
        elif n.op_type == "Add":
            y = x[0] + x[1]
        elif n.op_type == "Relu":
            y = np.maximum(x[0], 0)
        elif n.op_type == "Tanh":
            y = np.tanh(x[0])
        elif n.op_type == "Slice":
            starts, ends, axes = int(x[1][0]), int(x[2][0]), int(x[3][0])
            index = [slice(None)] * x[0].ndim
            index[axes] = slice(starts, ends)
            y = x[0][tuple(index)]
        elif n.op_type == "Identity":
            y = x[0]
        else:
            raise SystemExit("unexpected operator " + n.op_type)
        env[n.output[0]] = y.astype(np.float32)
    return env[model.graph.output[0].name]


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 13
    assert [i.name for i in model.graph.input] == ["obs"] and [o.name for o in model.graph.output] == ["action"]
    obs = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2, dtype=np.float64)
    act = run(model, obs)
    for row in act:
        print(",".join("%.9g" % v for v in row))


if __name__ == "__main__":
    main()
