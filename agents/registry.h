// The agents compiled in, one line each: AF_AGENT(name) for the file agents/<name>.c that
// defines `const af_agent_def af_<name>_def`. CMake reads it for the sources. No include
// guard: it is included once per expansion.
AF_AGENT(sac)
AF_AGENT(td3)
AF_AGENT(ppo)
AF_AGENT(qtopt)
AF_AGENT(pixel_sac)
AF_AGENT(skewfit)
