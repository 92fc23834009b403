import LabWire
import CAgentInit
import Glibc
import LabAgentCore

let argv = (0..<Int(lab_agent_argc())).map { String(cString: lab_agent_argv()[$0]!) }
exit(Agent.main(argv, startedAsVMInit: lab_agent_started_as_vm_init() != 0))
