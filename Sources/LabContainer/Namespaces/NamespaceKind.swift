import CLabHost
import LabCore
import LabModel

/// The namespaces the lab isolates a container with.
public enum NamespaceKind: String, CaseIterable, Codable, Sendable {
    case pid, mnt, uts, ipc, net, cgroup, user

    /// The CLONE_NEW* flag.
    public var cloneFlag: Int32 {
        switch self {
        case .pid: lab_clone_newpid()
        case .mnt: lab_clone_newns()
        case .uts: lab_clone_newuts()
        case .ipc: lab_clone_newipc()
        case .net: lab_clone_newnet()
        case .cgroup: lab_clone_newcgroup()
        case .user: lab_clone_newuser()
        }
    }

    /// Whether a child can be created inside a new namespace of this kind,
    /// tried for real in a short-lived child; the errno when not.
    public func probe() -> Result<Void, LabError> {
        let err = lab_probe_namespaces(cloneFlag)
        if err == 0 { return .success(()) }
        return .failure(.syscall("clone with CLONE_NEW\(rawValue == "mnt" ? "NS" : rawValue.uppercased())", errno: err))
    }
}
