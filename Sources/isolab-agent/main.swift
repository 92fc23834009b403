import CAgentInit
import Glibc
import LabAgentCore

exit(Agent.main(CommandLine.arguments, startedAsVMInit: lab_agent_started_as_vm_init() != 0))
