import LabCore

/// The namespace probes' questions, asked the same way by the run's
/// isolation check and by the demos (their answers read by LabAnalysis's
/// `IsolationRules`): one script and one host reading per question.
enum NamespaceProbes {
    /// Who PID 1 is, and how many processes /proc shows.
    static let processScript = #"echo "pid1=$(cat /proc/1/comm)"; echo "count=$(ls /proc | grep -c '^[0-9][0-9]*$')""#
    /// The hostname and the kernel's release and version.
    static let utsScript = #"echo "hostname=$(hostname)"; echo "release=$(uname -r)"; echo "version=$(uname -v)""#
    /// The System V shared-memory segments one can see.
    static let shmScript = #"echo "ids=$(tail -n +2 /proc/sysvipc/shm | awk '{print $2}' | tr '\n' ' ')""#

    /// The host's own answer to `processScript`.
    static func hostProcesses() -> [String: String] {
        ["pid1": (FileSystem.readTextIfPresent("/proc/1/comm") ?? "?").trimmingWhitespace(),
         "count": String(FileSystem.list("/proc").filter { Int($0) != nil }.count)]
    }
}
