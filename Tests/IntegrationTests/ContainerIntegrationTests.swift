import Foundation
import LabWire
import LabContainer
import LabCore
import LabImage
import LabModel
import LabRunner
import Testing

/// The built-in image in the real store (built once, shared by these tests).
func builtInImage() throws -> ImageStore.Record {
    let builder = ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try builtExecutable("isolab-agent"))
    return try builder.build(.builtinBusybox).record
}

/// Starts a container of the built-in image with stdout to a pipe; returns it and the pipe's read end.
func startContainer(_ command: [String], limits: CgroupLimits = CgroupLimits()) throws -> (Container, Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
    var spec = ContainerSpec(rootfs: try builtInImage().rootfs, command: command, limits: limits,
                             capabilities: try Capabilities.set(adding: [], dropping: []).mask)
    spec.stdout = fds[1]
    spec.stderr = fds[1]
    defer { close(fds[1]) }
    let container = try Container.create(spec, layout: try CgroupLayout.detectHost())
    return (container, fds[0])
}

/// Reads a pipe to its end.
func readAll(_ fd: Int32, timeout: Double = 30) -> String {
    var collector = OutputCollector()
    collector.drain(fd, deadline: MonotonicClock.now() + UInt64(timeout * 1e9))
    close(fd)
    return collector.text
}

/// What container `id` left on the host: cgroups, run directory, state file.
func leftovers(of id: String) -> [String] {
    let runDirectory = Container.stateDirectory(.fromEnvironment())
    return leftoverCgroups().filter { $0.hasSuffix("/" + id) }
        + FileSystem.list(runDirectory).filter { $0 == id || $0 == id + ".json" }.map { runDirectory + "/" + $0 }
}

/// What lab processes that have exited left behind (what gc would remove),
/// and any mount of the lab in the host's mount table. Containers of running
/// tests are not counted, so suites can run side by side.
func leakedByDeadLabs() throws -> [String] {
    let report = try ContainerGarbageCollector(paths: .fromEnvironment(), layout: try CgroupLayout.detectHost()).collect(dryRun: true)
    let mounts = (FileSystem.readTextIfPresent("/proc/self/mountinfo") ?? "").split(separator: "\n")
        .filter { $0.contains("isolab") }.map(String.init)
    return report.removed + mounts
}

/// Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes).
func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = FileSystem.readTextIfPresent("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(close, offsetBy: 2)] != "Z"
}

/// The first process in a container's cgroups (its PID 1 once it runs), nil
/// while they hold none.
func containerProcess(_ id: String) -> pid_t? {
    for group in leftoverCgroups() where group.hasSuffix("/" + id) {
        let procs = FileSystem.readTextIfPresent(group + "/cgroup.procs") ?? ""
        if let pid = procs.split(separator: "\n").first.flatMap({ pid_t($0) }) { return pid }
    }
    return nil
}

/// The id of the container a lab process owns, once it has one.
func containerOwned(by owner: pid_t, timeout: Double = 20, paths: LabPaths = .fromEnvironment()) -> String? {
    let directory = Container.stateDirectory(paths)
    let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
    while MonotonicClock.now() < deadline {
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            if let bytes = try? FileSystem.readBytes(directory + "/" + name),
               let state = try? JSONDecoder().decode(Container.State.self, from: Data(bytes)),
               state.ownerPID == owner, containerProcess(state.id) != nil {
                // Running in its cgroups: past the start, where a signal meets a whole container.
                return state.id
            }
        }
        usleep(10_000)
    }
    return nil
}

/// One at a time: these tests count what is left on the host, so they must not see each other's containers.
@Suite("Integration (root, this host): containers", .needsRoot, .serialized)
struct ContainerIntegrationTests {
    @Test func insideIsIsolated() throws {
        let script = """
            echo pid1=$(cat /proc/1/comm); echo host=$(hostname)
            echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)
            for n in pid mnt uts ipc net cgroup; do echo ns_$n=$(readlink /proc/self/ns/$n); done
            grep CapEff /proc/self/status
            echo cgroup=$(grep memory /proc/self/cgroup)
            ls /work /var/lib/isolab 2>/dev/null && echo HOST-REACHABLE
            touch /escape 2>/dev/null && echo ROOT-WRITABLE
            echo done
            """
        let (container, output) = try startContainer(["/bin/sh", "-c", script])
        let text = readAll(output)
        let status = container.wait()
        try container.destroy()
        #expect(status == 0, "\(text)")
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        #expect(values["pid1"] == "sh")
        #expect(values["host"] == container.spec.id)
        #expect(values["ifaces"] == "lo,")
        for kind in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
            let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")) ?? "?"
            #expect(values["ns_\(kind)"] != nil && values["ns_\(kind)"] != host, "\(kind) namespace is the host's")
        }
        #expect(text.contains("CapEff:\t00000000a80425fb"))
        #expect(values["cgroup"]?.hasSuffix(":memory:/") == true, "the cgroup namespace should root at the container's group")
        #expect(!text.contains("HOST-REACHABLE") && !text.contains("ROOT-WRITABLE"))
        #expect(text.contains("done"))
    }

    @Test func theAgentIsPIDOneAndTheTimelineIsComplete() throws {
        let (container, output) = try startContainer(["/sbin/isolab-agent", "run", "noop"])
        var collector = OutputCollector()
        collector.drain(output, deadline: MonotonicClock.now() + 30_000_000_000) { container.mark("ready", at: $0) }
        close(output)
        container.wait()
        try container.destroy()
        guard case .ready(let fields) = AgentLine.parseAll(collector.text).first else {
            Issue.record("no READY: \(collector.text)")
            return
        }
        #expect(fields["pid"] == "1" && fields["role"] == "container")
        let names = container.timeline.phases.map(\.name)
        #expect(names == ["spawn_start", "cloned", "cgroup_joined", "rootfs_ready", "exec", "ready", "exited", "cleaned"])
        let instants = container.timeline.phases.map(\.ns)
        #expect(instants == instants.sorted())
    }

    @Test func memoryLimitKillsAndIsReportedAsSuch() throws {
        let (container, output) = try startContainer(
            ["/sbin/isolab-agent", "run", "alloc", "--mib", "64", "--hold-ms", "1000"], limits: CgroupLimits(memoryBytes: 32 << 20))
        // Swap off for the group wherever the kernel accounts swap.
        if let memsw = container.cgroups.directories.first(where: { $0.contains("/memory/") }).map({ $0 + "/memory.memsw.limit_in_bytes" }),
           FileSystem.exists(memsw) {
            #expect(FileSystem.readTextIfPresent(memsw)?.trimmingWhitespace() == String(32 << 20))
        }
        _ = readAll(output)
        let status = container.wait()
        let outcome = container.describeExit(status)
        #expect((container.stats().oomKills ?? 0) >= 1)
        try container.destroy()
        #expect(outcome.text == "killed by the memory limit (32 MiB)")
        #expect(outcome.exitCode == 137)
    }

    @Test func pidsLimitStopsAForkBomb() throws {
        let (container, output) = try startContainer(
            ["/bin/sh", "-c", "i=0; while [ $i -lt 64 ]; do sleep 3 & i=$((i+1)); done; echo spawned-all"],
            limits: CgroupLimits(pids: 16))
        let text = readAll(output)
        let stats = container.stats()
        try container.kill()
        container.wait()
        try container.destroy()
        #expect(!text.contains("spawned-all"), "64 processes started under --pids 16")
        #expect((stats.pidsLimitHits ?? 0) > 0)
        if let peak = stats.pidsPeak { #expect(peak <= 16) }
    }

    @Test func frozenContainerMakesNoProgressAndContinuesAfterThaw() throws {
        let (container, output) = try startContainer(["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >> /tmp/counter; done"])
        close(output)
        let counter = "/proc/\(container.pid)/root/tmp/counter"
        // The shell appends a line per count: the last complete line is the count.
        func read() -> Int { lastCount(counter) }
        for _ in 0..<500 where read() <= 0 { usleep(10_000) }
        try container.freeze()
        let frozenAt = read()
        usleep(1_000_000)
        let afterSecond = read()
        try container.thaw()
        usleep(300_000)
        let afterThaw = read()
        try container.kill()
        container.wait()
        try container.destroy()
        #expect(frozenAt > 0)
        #expect(afterSecond == frozenAt, "the counter moved while frozen: \(frozenAt) -> \(afterSecond)")
        #expect(afterThaw > afterSecond)
    }

    /// CPU time per wall second, not wall-clock speed: a quota caps it. The
    /// control, the same loop without a quota, shows that the loop could use
    /// more, so that the cap is the quota's doing (other tests load the CPUs:
    /// only the cap, an upper bound, is asserted tightly).
    @Test func cpuQuotaCapsCPUSecondsPerSecondAndTheUncappedControlUsesMore() throws {
        func used(_ limits: CgroupLimits) throws -> Double {
            let (container, output) = try startContainer(["/bin/sh", "-c", "while :; do :; done"], limits: limits)
            close(output)
            usleep(300_000)
            let start = (container.stats().cpuUsageNs ?? 0, MonotonicClock.now())
            usleep(1_500_000)
            let end = (container.stats().cpuUsageNs ?? 0, MonotonicClock.now())
            try container.kill()
            container.wait()
            try container.destroy()
            return Double(end.0 - start.0) / Double(end.1 - start.1)
        }
        let capped = try used(CgroupLimits(cpus: 0.2))
        let control = try used(CgroupLimits())
        #expect(capped > 0.02 && capped <= 0.27, "CPU seconds per wall second under a 0.2 CPU quota: \(capped)")
        #expect(control > capped + 0.15, "without the quota: \(control), with it: \(capped)")
    }

    @Test func twoHundredSequentialRunsLeaveNothingBehind() throws {
        var ids: [String] = []
        for _ in 0..<200 {
            let (container, output) = try startContainer(["/sbin/isolab-agent", "run", "noop"])
            _ = readAll(output)
            #expect(container.wait() == 0)
            try container.destroy()
            ids.append(container.spec.id)
        }
        let left = ids.flatMap(leftovers(of:))
        #expect(left.isEmpty, "\(left)")
        #expect(try leakedByDeadLabs().isEmpty)
    }

    @Test func userNamespaceMapsRootInsideToAnUnprivilegedRangeOutside() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
        var spec = ContainerSpec(rootfs: try builtInImage().rootfs,
                                 command: ["/bin/sh", "-c", "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status; touch /tmp/ok && echo tmp-writable"],
                                 capabilities: try Capabilities.set(adding: [], dropping: []).mask, userNamespace: true)
        spec.stdout = fds[1]
        spec.stderr = fds[1]
        let container = try Container.create(spec, layout: try CgroupLayout.detectHost())
        close(fds[1])
        let text = readAll(fds[0])
        #expect(container.wait() == 0, "\(text)")
        try container.destroy()
        let lines = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.first == "0")
        #expect(lines.contains("0 100000 65536"))
        #expect(text.contains("CapEff:\t00000000a80425fb"))
        #expect(text.contains("tmp-writable"))
        #expect(leftovers(of: spec.id).isEmpty)
    }

    @Test func aCommandThatFailsToStartIsTornDown() throws {
        var spec = ContainerSpec(rootfs: try builtInImage().rootfs, command: ["/bin/sh"], workdir: "/no/such/dir",
                                 capabilities: try Capabilities.set(adding: [], dropping: []).mask)
        spec.stdout = -1
        do {
            _ = try Container.create(spec, layout: try CgroupLayout.detectHost())
            Issue.record("started with a missing working directory")
        } catch let error as LabError {
            #expect(error.message.hasSuffix("chdir to the working directory: ENOENT (no such file or directory)"))
        }
        #expect(FileSystem.list(Container.stateDirectory(.fromEnvironment())).allSatisfy { !$0.hasPrefix(spec.id) })
        #expect(leftovers(of: spec.id).isEmpty, "\(leftovers(of: spec.id))")
    }
}

@Suite("Integration (root, this host): isolab container run and gc", .needsRoot, .needsLibvirt, .serialized)
struct ContainerCommandIntegrationTests {
    @Test func exitStatusAndTimelineComeBack() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run", "--timeline", "--memory", "64M", "--", "/bin/sh", "-c", "exit 7"])
        #expect(output.status == 7)
        for phase in ["spawn_start", "cloned", "cgroup_joined", "rootfs_ready", "exec", "exited", "cleaned"] {
            #expect(output.stderr.contains(phase))
        }
    }

    /// ISOLAB_TRACE_START makes the command mark its own way through, in order
    /// and on the monotonic clock; without it, nothing is written.
    @Test func theStartTraceMarksEachStepInOrder() throws {
        let traced = try HostCommand.run(try isolabExecutable(), ["container", "run", "--", "/bin/true"], environment: ["ISOLAB_TRACE_START": "1"])
        #expect(traced.status == 0, "\(traced.stderr)")
        let marks = StartTrace.marks(in: traced.stderr)
        #expect(marks.map(\.name) == ["main", "parsed", "image", "layout", "instance", "instance_done", "ran"], "\(traced.stderr)")
        #expect(zip(marks, marks.dropFirst()).allSatisfy { $0.ns <= $1.ns })
        let plain = try HostCommand.run(try isolabExecutable(), ["container", "run", "--", "/bin/true"])
        #expect(plain.status == 0 && !plain.stderr.contains("isolab-trace"))
    }

    @Test func memoryLimitExitIs137WithItsMessage() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run", "--memory", "32M", "--", "/sbin/isolab-agent", "run", "alloc", "--mib", "64"])
        #expect(output.status == 137)
        #expect(output.stderr.hasSuffix("killed by the memory limit (32 MiB)\n"))
    }

    @Test(arguments: [
        (["--image", "nope"], "no image named 'nope'", Int32(2)),
        (["--", "/bin/nope"], "command /bin/nope is not an executable in the image", Int32(2)),
        (["--memory", "0", "--", "true"], "--memory 0 is below the smallest limit", Int32(2)),
        (["--memory", "1k", "--", "true"], "--memory 1k is below the smallest limit", Int32(2)),
        (["--memory", "banana", "--", "true"], "--memory 'banana' is not a size", Int32(2)),
        (["--cpus", "-1", "--", "true"], "--cpus -1.0 must be a number of CPUs between 0.01 and 1024", Int32(2)),
        (["--cap-add", "bogus", "--", "true"], "unknown capability 'bogus'", Int32(2)),
    ])
    func badInputIsOneLineAndLeavesNothing(_ arguments: [String], _ expected: String, _ status: Int32) throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run"] + arguments)
        #expect(output.status == status)
        #expect(output.stderr.hasPrefix("isolab: ") && output.stderr.contains(expected), "\(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1)
        #expect(try leakedByDeadLabs().isEmpty)
    }

    /// Runs `script` so that the lab's stdin and stdout are a terminal (a pty
    /// of script's, 40 rows by 100 columns); returns what was written to it.
    func onATerminal(_ shellLine: String) throws -> HostCommand.Output {
        let script = try #require(HostCommand.which("script"))
        return try HostCommand.run(script, ["-qec", "stty rows 40 cols 100; " + shellLine, "/dev/null"], timeout: 60)
    }

    @Test func aTerminalGetsAPtyOfItsOwnNotTheHosts() throws {
        // The outer shell's controlling terminal (field 7 of stat) is script's pty;
        // the container's must be another, with the window size copied, in a
        // session the container leads.
        let stat = #"read -r p c s pp pg sid tty rest < /proc/self/stat"#
        let inside = #"test -t 0 && echo STDIN-TTY; "# + stat + #"; echo tty=$tty sid=$sid; stty size"#
        let output = try onATerminal(stat.replacingOccurrences(of: "self", with: "$$") + #"; echo host=$tty; '"# + (try isolabExecutable())
                                     + #"' container run -- sh -c '"# + inside + "'")
        // script(1) sends a NUL when its own stdin (not a terminal here) ends; the
        // container's pty echoes it as "^@". Not the lab's.
        let text = output.stdout.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "^@", with: "")
        #expect(output.status == 0, "\(output.stdout) \(output.stderr)")
        #expect(text.contains("STDIN-TTY"), "\(text)")
        #expect(text.contains("40 100"), "the window size was not copied: \(text)")
        func field(_ name: String) -> String? {
            text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let host = try #require(field("host"))
        let container = try #require(field("tty"))
        #expect(host != "0" && container != "0", "\(text)")
        #expect(host != container, "the container has the host's terminal: \(text)")
        #expect(field("sid") == "1", "\(text)")
    }

    @Test func withoutATerminalOnStdinATerminalOnStdoutBecomesAPipe() throws {
        let output = try onATerminal("echo in | '" + (try isolabExecutable()) + #"' container run -- sh -c 'cat; test -t 1 && echo OUT-TTY || echo OUT-PIPE; test -t 1'"#)
        let text = output.stdout.replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("in\nOUT-PIPE"), "\(text)")
        #expect(output.status == 1)
    }

    /// Not rootless: a user other than root is refused, with --userns too,
    /// before any image is looked at.
    @Test(arguments: [[String](), ["--userns"]])
    func nonRootIsRefusedWithOrWithoutUserns(_ extra: [String]) throws {
        let setpriv = try #require(HostCommand.which("setpriv"))
        let output = try HostCommand.run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", try isolabExecutable(),
                                                  "container", "run"] + extra + ["--image", "x", "--", "true"])
        #expect(output.status == 2)
        #expect(output.stderr.contains("containers need root") && output.stderr.split(separator: "\n").count == 1, "\(output.stderr)")
    }

    @Test func sigintTearsTheContainerDown() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try isolabExecutable())
        process.arguments = ["container", "run", "--", "/bin/sleep", "60"]
        try process.run()
        let id = try #require(containerOwned(by: process.processIdentifier))
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + SIGINT)
        #expect(leftovers(of: id).isEmpty, "\(leftovers(of: id))")
        #expect(try leakedByDeadLabs().isEmpty)
    }

    @Test func gcRemovesWhatASigkilledLabLeft() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try isolabExecutable())
        process.arguments = ["container", "run", "--", "/bin/sleep", "60"]
        try process.run()
        let id = try #require(containerOwned(by: process.processIdentifier))
        let stateFile = Container.stateDirectory(.fromEnvironment()) + "/\(id).json"
        #expect(FileSystem.exists(stateFile))
        let containerPID = try #require(containerProcess(id))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!leftovers(of: id).isEmpty, "a SIGKILLed lab cannot clean up: something must be left for gc")
        #expect(isRunning(containerPID), "the container outlives a SIGKILLed lab")
        let gc = try HostCommand.run(try isolabExecutable(), ["gc"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed container \(id)"))
        #expect(gc.stdout.contains("removed cgroup /sys/fs/cgroup/memory/isolab/\(id)"))
        usleep(100_000)
        #expect(!isRunning(containerPID), "gc left the container's process running")
        #expect(leftovers(of: id).isEmpty, "\(leftovers(of: id))")
        #expect(try leakedByDeadLabs().isEmpty)
    }

    @Test func gcLeavesAnotherLabsLiveContainerAndAnUnrelatedProcessAlone() throws {
        // A second lab, live, in a home of its own.
        let otherHome = NSTemporaryDirectory() + "isolab-other-\(UUID().uuidString)"
        let otherPaths = LabPaths(stateDirectory: otherHome)
        let other = Process()
        other.executableURL = URL(fileURLWithPath: try isolabExecutable())
        other.arguments = ["container", "run", "--", "/bin/sleep", "60"]
        other.environment = ProcessInfo.processInfo.environment.merging(["ISOLAB_HOME": otherHome]) { $1 }
        try other.run()
        // An unrelated process, and a state file in this home that names it with a dead owner.
        let unrelated = Process()
        unrelated.executableURL = URL(fileURLWithPath: "/bin/sleep")
        unrelated.arguments = ["60"]
        try unrelated.run()
        let victim = NSTemporaryDirectory() + "isolab-victim-\(UUID().uuidString)"
        try FileSystem.createDirectory(victim, mode: 0o755, parents: 0o755)
        defer {
            // SIGKILL for sleep: a child of the test runner may inherit SIGINT ignored.
            for (process, signal) in [(other, SIGINT), (unrelated, SIGKILL)] where process.isRunning {
                kill(process.processIdentifier, signal)
                process.waitUntilExit()
            }
            try? FileSystem.removeTree(otherHome)
            try? FileSystem.removeTree(victim)
        }
        let otherID = try #require(containerOwned(by: other.processIdentifier, paths: otherPaths))
        #expect(FileSystem.exists(Container.stateDirectory(otherPaths) + "/\(otherID).json"))
        let otherContainerPID = try #require(containerProcess(otherID))
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let fakeID = InstanceID.next()
        // Written as JSON: the record a lab writes, with a dead owner, a pid that is
        // now another process's, another lab's cgroup and a path outside the store.
        let fake: [String: Any] = ["id": fakeID, "ownerPID": dead.processIdentifier, "ownerStartTime": 1, "pid": unrelated.processIdentifier,
                                   "cgroups": ["/sys/fs/cgroup/memory/isolab/\(otherID)", victim], "runDirectory": victim]
        let directory = Container.stateDirectory(.fromEnvironment())
        try FileSystem.createDirectory(directory, mode: 0o755, parents: 0o755)
        try FileSystem.writeAtomically(directory + "/\(fakeID).json", bytes: Array(try JSONSerialization.data(withJSONObject: fake)))

        let gc = try HostCommand.run(try isolabExecutable(), ["gc"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed container \(fakeID)"), "\(gc.stdout)")
        let third = try HostCommand.run(try isolabExecutable(), ["gc"], environment: ["ISOLAB_HOME": NSTemporaryDirectory() + "isolab-empty-\(UUID().uuidString)"])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(!third.stdout.contains("removed"), "\(third.stdout)")

        #expect(unrelated.isRunning, "gc killed a process it had only a recorded pid for")
        #expect(FileSystem.isDirectory(victim), "gc removed a path outside its store")
        #expect(other.isRunning && isRunning(otherContainerPID), "gc ended another lab's live container")
        #expect(!leftoverCgroups().filter { $0.hasSuffix("/" + otherID) }.isEmpty, "gc removed another lab's cgroups")
        #expect(!FileSystem.exists(directory + "/\(fakeID).json"))
        kill(other.processIdentifier, SIGINT)
        other.waitUntilExit()
        #expect(other.terminationStatus == 128 + SIGINT)
        #expect(leftovers(of: otherID).isEmpty, "\(leftovers(of: otherID))")
    }
}
