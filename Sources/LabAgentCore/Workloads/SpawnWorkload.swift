import LabWire
import Glibc

/// fork + exec + wait of a trivial program: the agent itself running `noop`,
/// through posix_spawn (glibc's clone(CLONE_VM|CLONE_VFORK) + exec).
enum SpawnWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        guard let path = Sys.executablePath() else {
            throw Sys.failure("spawn: find this executable (readlink /proc/self/exe)", workload: run.name)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("run"), strdup("noop"), nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        let work = try repeatWork(rounds: run.int("count") ?? 100, seconds: run.seconds()) { () throws(AgentError) in
            var pid: pid_t = 0
            let err = posix_spawn(&pid, path, &actions, nil, argv, envp)
            guard err == 0 else { throw Sys.failure("spawn: posix_spawn \(path)", workload: run.name, errno: err) }
            guard let status = Sys.wait(pid), status == 0 else {
                throw AgentError("spawn: \(path) run noop did not exit with 0", workload: run.name)
            }
        }
        reporter.emit(run, metric: "spawn", value: Double(work.elapsedNs) / 1e3 / Double(work.rounds), unit: "us/spawn",
                      durationNs: work.elapsedNs)
    }
}
