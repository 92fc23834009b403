import LabWire
import Glibc

/// TCP over the instance's own loopback: round-trip latency of 1-byte
/// messages (median) and bulk throughput. The server is the agent itself in
/// a second process (`isolab-agent _net-server`), so that every round trip
/// crosses processes as a real one does.
enum NetWorkload {
    static let serverCommand = "_net-server"
    /// The listening socket's descriptor number in the server process.
    static let serverFD: Int32 = 3

    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let listener = try listenOnLoopback(run)
        var port: UInt16 = 0
        do {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
            }
            port = UInt16(bigEndian: address.sin_port)
        }
        let server = try spawnServer(listener: listener, run)
        close(listener)
        var serverReaped = false
        defer {
            if !serverReaped {
                kill(server, SIGKILL)
                _ = Sys.wait(server)
            }
        }

        // Round trips.
        let echo = try connectLoopback(port: port, run)
        var samples: [Int64] = []
        var byte: UInt8 = 0x2A
        let work = try repeatWork(rounds: run.int("count") ?? 2000, seconds: run.seconds().map { $0 / 2 }) { () throws(AgentError) in
            let t = Sys.monotonicNs()
            guard send(echo, &byte, 1, 0) == 1 else { throw Sys.failure("net: send", workload: run.name) }
            guard recv(echo, &byte, 1, Int32(MSG_WAITALL)) == 1 else { throw Sys.failure("net: receive echo", workload: run.name) }
            samples.append(Sys.monotonicNs() - t)
        }
        close(echo)
        samples.sort()
        reporter.emit(run, metric: "rtt", value: Double(samples[samples.count / 2]) / 1e3, unit: "us", durationNs: work.elapsedNs)

        // Bulk.
        let mib = run.int("mib") ?? 64
        let bulk = try connectLoopback(port: port, run)
        defer { close(bulk) }
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        let start = Sys.monotonicNs()
        var sent = 0
        let total = mib * 1024 * 1024
        while sent < total {
            let n = chunk.withUnsafeBytes { send(bulk, $0.baseAddress, min($0.count, total - sent), 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Sys.failure("net: bulk send", workload: run.name) }
            sent += n
        }
        shutdown(bulk, Int32(SHUT_WR))
        var received: UInt64 = 0
        guard recv(bulk, &received, 8, Int32(MSG_WAITALL)) == 8, Int(received) == total else {
            throw AgentError("net: the server acknowledged \(received) bytes of \(total)", workload: run.name)
        }
        let elapsed = Sys.monotonicNs() - start
        reporter.emit(run, metric: "bulk", value: Double(total) / 1e6 / (Double(elapsed) / 1e9), unit: "MB/s", durationNs: elapsed)

        serverReaped = true
        guard let status = Sys.wait(server), status == 0 else {
            throw AgentError("net: the server process failed", workload: run.name)
        }
    }

    static func listenOnLoopback(_ run: WorkloadRun) throws(AgentError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Sys.failure("net: socket", workload: run.name) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            let err = errno
            close(fd)
            throw Sys.failure("net: listen on 127.0.0.1 (is lo up?)", workload: run.name, errno: err)
        }
        return fd
    }

    static func connectLoopback(port: UInt16, _ run: WorkloadRun) throws(AgentError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Sys.failure("net: socket", workload: run.name) }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let err = errno
            close(fd)
            throw Sys.failure("net: connect 127.0.0.1:\(port)", workload: run.name, errno: err)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func spawnServer(listener: Int32, _ run: WorkloadRun) throws(AgentError) -> pid_t {
        guard let path = Sys.executablePath() else { throw Sys.failure("net: find this executable (readlink /proc/self/exe)", workload: run.name) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copy, so the server inherits exactly this descriptor.
        posix_spawn_file_actions_adddup2(&actions, listener, serverFD)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup(serverCommand), nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        let err = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard err == 0 else { throw Sys.failure("net: spawn the server", workload: run.name, errno: err) }
        return pid
    }

    /// The server process: echo every byte of the first connection, then
    /// count the second's bytes and acknowledge the count.
    public static func serve() -> Int32 {
        let echo = accept(serverFD, nil, nil)
        guard echo >= 0 else { return 1 }
        var one: Int32 = 1
        setsockopt(echo, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(echo, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var offset = 0
            while offset < n {
                let m = buffer.withUnsafeBytes { send(echo, $0.baseAddress! + offset, n - offset, 0) }
                if m <= 0 { return 1 }
                offset += m
            }
        }
        close(echo)
        let bulk = accept(serverFD, nil, nil)
        guard bulk >= 0 else { return 1 }
        var count: UInt64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(bulk, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            count += UInt64(n)
        }
        let sent = send(bulk, &count, 8, 0)
        close(bulk)
        return sent == 8 ? 0 : 1
    }
}
