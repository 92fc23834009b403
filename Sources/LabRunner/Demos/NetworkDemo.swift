import Foundation
import LabAnalysis
import LabContainer
import LabCore
import LabModel

/// NET namespaces: a fresh one has only lo, down; two containers joined by
/// a veth pair reach each other by their own addresses; both bind the same
/// port, which the host holds too.
struct NETDemo: Demo {
    let name = "net"
    let title = "Network namespace: interfaces, addresses and ports of its own"
    let claim = ClaimCatalogue.statement("namespace.net")
    let feature = "the network namespace (the containers share the host's)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        // Step 1: a namespace fresh from the kernel, before the lab touches it.
        let fresh = try HostCommand.run("/usr/bin/unshare", ["--net", "/bin/busybox", "ip", "-o", "link"], timeout: 10)
        let freshLinks = fresh.stdout.split(separator: "\n").map { line -> String in
            let fields = line.split(separator: " ")
            let name = fields.count > 1 ? String(fields[1]).trimmingCharacters(in: CharacterSet(charactersIn: ":")) : "?"
            return name + (line.contains("state DOWN") || !line.contains(",UP") ? " (down)" : " (up)")
        }
        s.evidence["fresh.links"] = freshLinks.joined(separator: ", ")
        s.step("Make a fresh network namespace and list its links",
               command: "unshare --net ip -o link",
               expect: "only lo, and lo down",
               inside: freshLinks.joined(separator: ", "), host: Self.hostInterfaces().sorted().joined(separator: ", "),
               passed: fresh.status == 0 && freshLinks == ["lo (down)"])

        let sharing: Set<NamespaceKind> = s.without ? [.net] : []
        let port = 18000 + Int(getpid() % 1000)
        // The host holds the port first.
        let holder = try Self.listen(port: port)
        defer { close(holder) }
        let (addressA, addressB) = ("10.254.0.1", "10.254.0.2")
        let listen = "(nc -l -p \(port) >/dev/null 2>&1 &); sleep 0.2; "
            + #"echo "port=$(netstat -ltn | grep -c ':"# + String(port) + #" ')"; "#
        let show = #"echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ')"; echo "addrs=$(ip -o -4 addr show | awk '{print $4}' | sort | tr '\n' ' ')"; "#
        func wait(_ address: String) -> String { s.without ? "" : "while ! ip -o -4 addr show | grep -q \(address)/; do sleep 0.02; done; " }
        let scriptA = wait(addressA) + show + listen + "touch /tmp/shown; sleep 60"
        let scriptB = wait(addressB) + show + listen
            + "(ping -c 1 -W 2 \(addressA) >/dev/null 2>&1 && echo reach=yes || echo reach=no); touch /tmp/shown; sleep 60"
        let backend = try s.container(sharing: sharing)
        let outcomeB = Carried<InstanceOutcome?>(nil)
        let outcomeA = try await InstanceRun.run(backend, s.shell(scriptA, timeout: 120)) { a in
            let pidA = try Probed(a, for: "the network demo").pid
            outcomeB.value = try await InstanceRun.run(backend, s.shell(scriptB, timeout: 120)) { b in
                let pidB = try Probed(b, for: "the network demo").pid
                // Sharing the host's namespace, a veth pair would be the host's: not made.
                if !s.without {
                    try await Blocking.run { try NamespaceTools.vethPair(pidA, addressA, pidB, addressB) }
                }
                for _ in 0..<3000 {
                    if FileSystem.exists("/proc/\(pidA)/root/tmp/shown") && FileSystem.exists("/proc/\(pidB)/root/tmp/shown") { return }
                    try await Task.sleep(nanoseconds: 10_000_000)
                }
                throw LabError(.timeout, "the containers did not show their interfaces within 30 s")
            }
        }
        let a = keyValues(outcomeA.output), b = keyValues(outcomeB.value?.output ?? "")
        func set(_ text: String?) -> Set<String> { Set((text ?? "").split(separator: " ").map(String.init)) }
        let hostInterfaces = Self.hostInterfaces()
        let insideA = set(a["ifaces"]), insideB = set(b["ifaces"])
        s.evidence["A.interfaces"] = insideA.sorted().joined(separator: " ")
        s.evidence["B.interfaces"] = insideB.sorted().joined(separator: " ")
        s.step("Start two containers A and B; join them with a veth pair, one end in each (isl0); list their interfaces",
               command: "ip link add isl0 type veth peer name isl0 netns B; cat /proc/net/dev",
               expect: "each sees lo and its own isl0, none of the host's",
               inside: "A: \(insideA.sorted().joined(separator: ", ")); B: \(insideB.sorted().joined(separator: ", "))",
               host: hostInterfaces.sorted().joined(separator: ", "),
               passed: IsolationRules.ownPair(insideA, insideB))
        let addressesA = set(a["addrs"]), addressesB = set(b["addrs"])
        s.evidence["B.reaches.A"] = b["reach"] ?? "?"
        s.step("Give A \(addressA) and B \(addressB); B pings A",
               command: "ip addr add \(addressA)/24 dev isl0 (in A); ping -c 1 \(addressA) (in B)",
               expect: "each has its own address, and B reaches A over the pair",
               inside: "A: \(addressesA.sorted().joined(separator: ", ")); B: \(addressesB.sorted().joined(separator: ", ")); B reaches A: \(b["reach"] ?? "?")",
               host: Self.hostAddresses().sorted().joined(separator: ", "),
               passed: addressesA.contains("\(addressA)/24") && addressesB.contains("\(addressB)/24") && b["reach"] == "yes")
        s.evidence["A.listens"] = a["port"] ?? "?"
        s.evidence["B.listens"] = b["port"] ?? "?"
        s.step("The host listens on TCP port \(port); then A and B both listen on it too",
               command: "nc -l -p \(port) (in A and in B); netstat -ltn",
               expect: "both listen: a port belongs to a namespace",
               inside: "A listening: \(a["port"] == "1" ? "yes" : "no"); B listening: \(b["port"] == "1" ? "yes" : "no")",
               host: "listening on \(port)",
               passed: a["port"] == "1" && b["port"] == "1")
        // The control: a bare process tries the same port.
        let control = try await s.ask(s.context.bare(), "nc -l -p \(port) >/dev/null 2>&1 & sleep 0.3; kill $! 2>/dev/null && echo bound=yes || echo bound=no", bare: true)
        s.control("A bare host process tries the same port",
                  command: "nc -l -p \(port)", expect: "refused: the host already holds it",
                  inside: control["bound"] == "no" ? "not bound (address in use)" : "bound",
                  host: "listening on \(port)", sawHost: control["bound"] == "no")
    }

    /// A TCP socket listening on `port` on every address of the host.
    static func listen(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LabError.syscall("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 1) == 0 else {
            let err = errno
            close(fd)
            throw LabError.syscall("listen on port \(port)", errno: err)
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    static func hostInterfaces() -> Set<String> { Set(FileSystem.list("/sys/class/net")) }
    static func hostAddresses() -> Set<String> { IsolationCheck.hostAddresses() }
}
