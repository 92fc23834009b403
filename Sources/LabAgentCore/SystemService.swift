import LabWire
import Glibc

/// `isolab-agent service`: the agent of a whole-OS instance, started by
/// systemd as `isolab-agent.service` once `multi-user.target` is reached
/// (in a VM booted from the image's disk, and in a system container). It
/// waits until systemd says the boot is over, writes READY, then a BOOT line
/// with systemd's own boot timing, runs the workloads, writes DONE and
/// powers the system off. Its channel is stdout, which the unit sends to
/// /dev/console (the VM's serial port, the container's pty).
enum SystemService {
    static func main() -> Int32 {
        // systemd writes /run/systemd/container in a container: its argv is the command line there.
        let inContainer = Sys.exists("/run/systemd/container")
        let role: Agent.Role = inContainer ? .container : .vm
        let control: Int32 = 1
        // `running`, or `degraded` when a unit failed: the boot is over either way.
        let state = capture(["/usr/bin/systemctl", "is-system-running", "--wait"]).output.filter { !$0.isWhitespace }
        let status = Agent.session(control: control, role: role, extra: [("init", "systemd"), ("system_state", state)], afterReady: {
            Sys.write(control, AgentProtocol.boot(bootFields(inContainer: inContainer)))
        }) { () throws(AgentError) in
            let text: String
            if inContainer {
                // PID 1's argv: `/sbin/init isolab.run=...`, NUL-separated.
                guard let argv = Sys.readFile("/proc/1/cmdline") else { throw AgentError("read /proc/1/cmdline: \(Sys.describe(errno))") }
                text = argv.split(separator: "\0").dropFirst().joined(separator: " ")
            } else {
                guard let cmdline = Sys.readFile("/proc/cmdline") else { throw AgentError("read /proc/cmdline: \(Sys.describe(errno))") }
                text = cmdline
            }
            return try KernelCommandLine.settings(text).run
        }
        _ = capture(["/usr/bin/systemctl", "poweroff", "--no-block"])
        return status
    }

    /// systemd's boot timestamps (µs of CLOCK_MONOTONIC: the guest's in a
    /// VM, counted from its kernel's start; the host's in a container), as
    /// `systemd-analyze time` reads them, and the ten slowest units of
    /// `systemd-analyze blame`.
    static func bootFields(inContainer: Bool) -> [(String, JSONValue)] {
        let properties = ["FirmwareTimestampMonotonic", "LoaderTimestampMonotonic", "KernelTimestampMonotonic",
                          "InitRDTimestampMonotonic", "UserspaceTimestampMonotonic", "FinishTimestampMonotonic"]
        let shown = capture(["/usr/bin/systemctl", "show"] + properties.flatMap { ["-p", $0] }).output
        var values: [String: Int64] = [:]
        for line in shown.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Int64(parts[1]) { values[String(parts[0])] = value }
        }
        var fields: [(String, JSONValue)] = [("init", .string("systemd")), ("clock", .string(inContainer ? "host monotonic" : "guest monotonic"))]
        for property in properties {
            let key = String(property.dropLast("TimestampMonotonic".count)).lowercased() + "_us"
            fields.append((key, values[property].map { .integer($0) } ?? .null))
        }
        let analyze = capture(["/usr/bin/systemd-analyze", "time"]).output
        fields.append(("analyze", .string(analyze.split(separator: "\n").first.map(String.init) ?? "")))
        let blame = capture(["/usr/bin/systemd-analyze", "blame", "--no-pager"]).output
        var units: [JSONValue] = []
        for line in blame.split(separator: "\n").prefix(10) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2 else { continue }
            let unit = String(parts[parts.count - 1])
            let text = parts.dropLast().joined(separator: " ")
            units.append(.object([("unit", .string(unit)), ("ms", seconds(text).map { .number($0 * 1000) } ?? .null), ("text", .string(text))]))
        }
        fields.append(("blame", .array(units)))
        return fields
    }

    /// `1min 2.345s`, `11.804s`, `353ms`, `27us` in seconds.
    static func seconds(_ text: String) -> Double? {
        var total = 0.0
        var parsed = false
        for part in text.split(separator: " ") {
            let digits = part.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(digits) else { return nil }
            switch part.dropFirst(digits.count) {
            case "h": total += value * 3600
            case "min": total += value * 60
            case "s": total += value
            case "ms": total += value / 1000
            case "us", "µs": total += value / 1_000_000
            default: return nil
            }
            parsed = true
        }
        return parsed ? total : nil
    }

    /// Runs a command; its exit status and stdout.
    static func capture(_ argv: [String]) -> (status: Int32, output: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (-1, "") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        let err = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        close(fds[1])
        guard err == 0 else {
            close(fds[0])
            return (-1, "")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        close(fds[0])
        let status = Sys.wait(pid) ?? -1
        return (status, String(decoding: bytes, as: UTF8.self))
    }
}
