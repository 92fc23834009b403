import LabWire
import Foundation
import LabAnalysis
import LabContainer
import LabCore
import LabModel

/// Each namespace of the notes (PID, NET, IPC, MNT, UTS) probed from inside
/// a container of the lab's own and, as the control, by the same busybox
/// applets run as a bare host process: a refusal or an absence inside means
/// something only if the control sees the host's object.
enum IsolationCheck {
    static func run(_ context: CheckContext) async throws -> IsolationEvidence {
        var probes: [IsolationProbe] = []
        probes += try await pid(context)
        probes += try await uts(context)
        probes += try await ipc(context)
        probes += try await mnt(context)
        probes += try await net(context)
        return IsolationEvidence(probes: probes)
    }

    /// Processes a process can see, and who its PID 1 is.
    static func pid(_ context: CheckContext) async throws -> [IsolationProbe] {
        let script = NamespaceProbes.processScript
        let nspid = Carried("")
        let inside = try await InstanceRun.run(try context.container(), context.shell(script + "; sleep 0.2"), endAfterDuring: false) { instance in
            let container = try Probed(instance, for: "the isolation check")
            // The host's view of the same process: both of its pids.
            let status = FileSystem.readTextIfPresent("/proc/\(container.pid)/status") ?? ""
            nspid.value = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().joined(separator: " ") } ?? "?"
        }
        let control = try await InstanceRun.run(context.bare(), context.shell(script, bare: true))
        let host = NamespaceProbes.hostProcesses()
        var a = keyValues(inside.output)
        let c = keyValues(control.output)
        a["nspid"] = nspid.value
        return [
            IsolationProbe(
                namespace: "pid", question: "PID 1, and how many processes /proc shows", command: script,
                inside: "PID 1 is \(a["pid1"] ?? "?"); \(a["count"] ?? "?") processes (the host sees it as NSpid \(nspid.value))",
                control: "PID 1 is \(c["pid1"] ?? "?"); \(c["count"] ?? "?") processes",
                host: "PID 1 is \(host["pid1"] ?? "?"); \(host["count"] ?? "?") processes",
                rule: "pid.tree", observed: .init(inside: a, control: c, host: host)),
        ]
    }

    /// The hostname and the kernel's name and version, which the notes say UTS isolates.
    static func uts(_ context: CheckContext) async throws -> [IsolationProbe] {
        let script = NamespaceProbes.utsScript
        let inside = keyValues(try await InstanceRun.run(try context.container(), context.shell(script)).output)
        let control = keyValues(try await InstanceRun.run(context.bare(), context.shell(script, bare: true)).output)
        let host = HostInfo.current()
        let hostname = ProcessInfo.processInfo.hostName
        let version = (FileSystem.readTextIfPresent("/proc/sys/kernel/version") ?? "?").trimmingWhitespace()
        func probe(_ key: String, _ question: String, _ hostValue: String, claimed: Bool) -> IsolationProbe {
            IsolationProbe(
                namespace: "uts", question: question, command: script.split(separator: ";").first { $0.contains(key + "=") }.map(String.init) ?? script,
                inside: inside[key] ?? "?", control: control[key] ?? "?", host: hostValue,
                rule: "uts." + key,
                observed: .init(inside: inside[key].map { ["value": $0] } ?? [:], control: control[key].map { ["value": $0] } ?? [:], host: ["value": hostValue]),
                claimed: claimed)
        }
        return [
            probe("hostname", "the hostname", hostname, claimed: true),
            probe("release", "the kernel release (uname -r)", host.kernelRelease, claimed: true),
            probe("version", "the kernel version (uname -v)", version, claimed: true),
        ]
    }

    /// A System V shared-memory segment the host made, looked for in /proc/sysvipc/shm.
    static func ipc(_ context: CheckContext) async throws -> [IsolationProbe] {
        let segment = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600)
        guard segment >= 0 else { throw LabError.syscall("shmget") }
        defer { shmctl(segment, IPC_RMID, nil) }
        let script = NamespaceProbes.shmScript
        let a = keyValues(try await InstanceRun.run(try context.container(), context.shell(script)).output)
        let c = keyValues(try await InstanceRun.run(context.bare(), context.shell(script, bare: true)).output)
        let inside = IsolationRules.words(a["ids"]), control = IsolationRules.words(c["ids"])
        return [
            IsolationProbe(
                namespace: "ipc", question: "a SysV shared-memory segment made on the host (shmid \(segment))", command: script,
                inside: inside.isEmpty ? "no segment" : "segments \(inside.joined(separator: ", "))",
                control: control.isEmpty ? "no segment" : "segments \(control.joined(separator: ", "))",
                host: "segment \(segment)",
                rule: "ipc.shm", observed: .init(inside: ["ids": a["ids"] ?? ""], control: ["ids": c["ids"] ?? ""], host: ["segment": String(segment)])),
        ]
    }

    /// A tmpfs the host mounts after the container has started.
    static func mnt(_ context: CheckContext) async throws -> [IsolationProbe] {
        let point = context.paths.run + "/mnt-probe-\(getpid())-\(InstanceID.next())"
        try context.paths.ensure(.run)
        try FileSystem.makeDirectory(point, mode: 0o700)
        defer {
            umount2(point, Int32(MNT_DETACH))
            rmdir(point)
        }
        let marker = (point as NSString).lastPathComponent
        let show = "echo \"seen=$(grep -c \(marker) /proc/self/mountinfo)\""
        // The container waits for the lab's go (a file the lab writes into its /tmp).
        let script = "while [ ! -e /tmp/go ]; do sleep 0.02; done; " + show
        let inside = try await InstanceRun.run(try context.container(), context.shell(script), endAfterDuring: false) { instance in
            let container = try Probed(instance, for: "the isolation check")
            guard mount("tmpfs", point, "tmpfs", 0, "size=64k") == 0 else { throw LabError.syscall("mount tmpfs on \(point)") }
            let go = open("/proc/\(container.pid)/root/tmp/go", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard go >= 0 else { throw LabError.syscall("signal the MNT probe's container (create its /tmp/go)") }
            close(go)
        }
        let control = try await InstanceRun.run(context.bare(), context.shell(show, bare: true))
        let hostSees = (FileSystem.readTextIfPresent("/proc/self/mountinfo") ?? "").contains(marker)
        let a = keyValues(inside.output)["seen"] ?? "?", c = keyValues(control.output)["seen"] ?? "?"
        return [
            IsolationProbe(
                namespace: "mnt", question: "a tmpfs the host mounts after the container started", command: "grep -c \(marker) /proc/self/mountinfo",
                inside: a == "0" ? "not in its mount table" : "in its mount table (\(a))",
                control: c == "0" ? "not in its mount table" : "in its mount table (\(c))",
                host: hostSees ? "mounted" : "not mounted",
                rule: "mnt.tmpfs", observed: .init(inside: ["seen": a], control: ["seen": c], host: ["mounted": hostSees ? "1" : "0"])),
        ]
    }

    /// Two containers joined by a veth pair, each with its own address.
    static func net(_ context: CheckContext) async throws -> [IsolationProbe] {
        let (addressA, addressB) = ("10.254.0.1", "10.254.0.2")
        let show = #"echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ')"; echo "addrs=$(ip -o -4 addr show | awk '{print $4}' | sort | tr '\n' ' ')""#
        // Each waits for its own address (set after the link appears), shows
        // what it sees, and says so with /tmp/shown; the lab ends both once
        // both have (the pair goes with either end's namespace).
        func wait(_ address: String) -> String { "while ! ip -o -4 addr show | grep -q \(address)/; do sleep 0.02; done; " }
        let scriptA = wait(addressA) + show + "; touch /tmp/shown; sleep 60"
        let scriptB = wait(addressB) + show + "; (ping -c 1 -W 2 \(addressA) >/dev/null 2>&1 && echo reach=yes || echo reach=no); touch /tmp/shown; sleep 60"
        let backend = try context.container()
        let outcomeB = Carried<InstanceOutcome?>(nil)
        let outcomeA = try await InstanceRun.run(backend, context.shell(scriptA, timeout: 120)) { a in
            let pidA = try Probed(a, for: "the isolation check").pid
            outcomeB.value = try await InstanceRun.run(backend, context.shell(scriptB, timeout: 120)) { b in
                let pidB = try Probed(b, for: "the isolation check").pid
                try await Blocking.run { try NamespaceTools.vethPair(pidA, addressA, pidB, addressB) }
                for _ in 0..<3000 {
                    if FileSystem.exists("/proc/\(pidA)/root/tmp/shown") && FileSystem.exists("/proc/\(pidB)/root/tmp/shown") { return }
                    try await Task.sleep(nanoseconds: 10_000_000)
                }
                throw LabError(.timeout, "the NET probe's containers did not show their interfaces within 30 s")
            }
        }
        let control = keyValues(try await InstanceRun.run(context.bare(), context.shell(show, bare: true)).output)
        let a = keyValues(outcomeA.output), b = keyValues(outcomeB.value?.output ?? "")
        let hostInterfaces = Set(FileSystem.list("/sys/class/net"))
        func set(_ text: String?) -> Set<String> { Set((text ?? "").split(separator: " ").map(String.init)) }
        let insideA = set(a["ifaces"]), insideB = set(b["ifaces"]), controlSet = set(control["ifaces"])
        let addressesA = set(a["addrs"]), addressesB = set(b["addrs"]), controlAddresses = set(control["addrs"])
        let hostAddresses = Self.hostAddresses()
        return [
            IsolationProbe(
                namespace: "net", question: "the network interfaces each container sees", command: "cat /proc/net/dev",
                inside: "A: \(insideA.sorted().joined(separator: ", ")); B: \(insideB.sorted().joined(separator: ", "))",
                control: controlSet.sorted().joined(separator: ", "), host: hostInterfaces.sorted().joined(separator: ", "),
                rule: "net.interfaces",
                observed: .init(inside: ["a": a["ifaces"] ?? "", "b": b["ifaces"] ?? ""], control: ["ifaces": control["ifaces"] ?? ""],
                                host: ["ifaces": hostInterfaces.sorted().joined(separator: " ")])),
            IsolationProbe(
                namespace: "net", question: "each container's own addresses, and B reaching A by its address",
                command: "ip -o -4 addr show; ping -c 1 \(addressA)",
                inside: "A: \(addressesA.sorted().joined(separator: ", ")); B: \(addressesB.sorted().joined(separator: ", ")); B reaches A: \(b["reach"] ?? "?")",
                control: controlAddresses.sorted().joined(separator: ", "), host: hostAddresses.sorted().joined(separator: ", "),
                rule: "net.addresses",
                observed: .init(inside: ["a": a["addrs"] ?? "", "b": b["addrs"] ?? "", "reach": b["reach"] ?? "?",
                                         "expect_a": "\(addressA)/24", "expect_b": "\(addressB)/24"],
                                control: ["addrs": control["addrs"] ?? ""], host: ["addrs": hostAddresses.sorted().joined(separator: " ")])),
        ]
    }

    /// The host's IPv4 addresses as `address/prefix`, from getifaddrs.
    static func hostAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found = Set<String>()
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  let mask = entry.pointee.ifa_netmask else { continue }
            let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            let bits = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr).nonzeroBitCount }
            var text = [CChar](repeating: 0, count: 16)
            var copy = ip
            inet_ntop(AF_INET, &copy, &text, socklen_t(text.count))
            found.insert(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(bits)")
        }
        return found
    }
}
