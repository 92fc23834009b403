import CAgentShim
import Glibc
import LabWire

/// The agent running a program instead of workloads: a VM's command
/// (`isolab vm run --image NAME -- CMD`), in the image's root, with the
/// image's environment, working directory and user. A guest has one channel
/// to the host, its console, so the program's stdout and stderr come back
/// as OUTPUT lines; DONE carries the program's exit status (128 + the
/// signal when one ended it), as a container's exit status is its command's.
enum ProgramRun {
    static func session(control: Int32, role: Agent.Role, exec: KernelCommandLine.Settings.Exec, setupError: AgentError?) -> Int32 {
        Sys.write(control, AgentProtocol.ready(Agent.readyFields(role: role)))
        if let setupError { return Agent.fail(setupError, control: control, role: role) }
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else {
            return Agent.fail(Sys.failure("exec: pipe"), control: control, role: role)
        }
        for fd in [out[0], out[1], err[0], err[1]] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var ids: (UInt32, UInt32)?
        if let user = exec.user {
            let parts = user.split(separator: ":")
            ids = (UInt32(parts[0]) ?? 0, UInt32(parts[1]) ?? 0)
        }
        let pid = withCStrings(exec.argv) { argv in
            withCStrings(exec.environment) { envp in
                lab_spawn_program(argv, envp, exec.workdir, ids == nil ? 0 : 1, ids?.0 ?? 0, ids?.1 ?? 0, out[1], err[1])
            }
        }
        close(out[1])
        close(err[1])
        guard pid > 0 else {
            close(out[0]); close(err[0])
            let path = exec.environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? "/usr/bin:/bin"
            return Agent.fail(AgentError("exec \(exec.argv[0]): \(Sys.describe(-pid)) (working directory \(exec.workdir), PATH \(path))",
                                         exitStatus: -pid == ENOENT ? 127 : 126), control: control, role: role)
        }
        relay([(out[0], "stdout"), (err[0], "stderr")], control: control)
        let status = Sys.wait(pid) ?? 0
        let exit: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        Sys.write(control, AgentProtocol.done(exit: exit, fields: Agent.doneFields()))
        return exit
    }

    /// Copies each pipe to OUTPUT lines until both are at end of file.
    static func relay(_ streams: [(Int32, String)], control: Int32) {
        var open = streams
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for (i, entry) in fds.enumerated().reversed() where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    close(entry.fd)
                    open.remove(at: i)
                    continue
                }
                Sys.write(control, AgentProtocol.output(stream: open[i].1, buffer[0..<n]))
            }
        }
    }

    /// A NULL-terminated array of C strings for the duration of `body`.
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
