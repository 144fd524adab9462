// The agents compiled in, one line each: AF_AGENT(name) for agents/name.c defining
// `const af_agent_def af_name_def`. The agent registry and CMake's source list read this file.
AF_AGENT(sac)
AF_AGENT(td3)
