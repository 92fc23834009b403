#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the lab keeps its state. Nothing else on the host is written outside
/// it, `reports/` and what `scripts/setup-host` installs.
public struct LabPaths: Sendable {
    /// `$ISOLAB_HOME`, default `/var/lib/isolab`.
    public var stateDirectory: String

    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    /// The state directory from the environment.
    public static func fromEnvironment() -> LabPaths {
        if let home = getenv("ISOLAB_HOME"), home.pointee != 0 {
            return LabPaths(stateDirectory: String(cString: home))
        }
        return LabPaths(stateDirectory: "/var/lib/isolab")
    }

    /// Guest kernels extracted by `scripts/setup-host`.
    public var kernels: String { stateDirectory + "/kernels" }
    /// Cached verdicts (the KVM probe) and other derived facts.
    public var cache: String { stateDirectory + "/cache" }
    /// Scratch space for instances; each instance removes its own.
    public var run: String { stateDirectory + "/run" }
}
