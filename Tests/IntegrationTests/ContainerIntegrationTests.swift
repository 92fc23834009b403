import Foundation
import LabAgentCore
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

/// The id of the container a lab process owns, once it has one.
func containerOwned(by owner: pid_t, timeout: Double = 20) -> String? {
    let directory = Container.stateDirectory(.fromEnvironment())
    let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
    while MonotonicClock.now() < deadline {
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            if let bytes = try? FileSystem.readBytes(directory + "/" + name),
               let state = try? JSONDecoder().decode(Container.State.self, from: Data(bytes)),
               state.ownerPID == owner, let pid = state.pid,
               leftoverCgroups().contains(where: { $0.hasSuffix("/" + state.id) && FileSystem.readTextIfPresent($0 + "/cgroup.procs")?.contains(String(pid)) == true }) {
                // Running in its cgroups: past the start, where a signal meets a whole container.
                return state.id
            }
        }
        usleep(10_000)
    }
    return nil
}

/// One at a time: these tests count what is left on the host, so they must not see each other's containers.
@Suite("Integration (root, this host): containers", .serialized)
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

@Suite("Integration (root, this host): isolab container run and gc", .serialized)
struct ContainerCommandIntegrationTests {
    @Test func exitStatusAndTimelineComeBack() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run", "--timeline", "--memory", "64M", "--", "/bin/sh", "-c", "exit 7"])
        #expect(output.status == 7)
        for phase in ["spawn_start", "cloned", "cgroup_joined", "rootfs_ready", "exec", "exited", "cleaned"] {
            #expect(output.stderr.contains(phase))
        }
    }

    @Test func memoryLimitExitIs137WithItsMessage() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run", "--memory", "32M", "--", "/sbin/isolab-agent", "run", "alloc", "--mib", "64"])
        #expect(output.status == 137)
        #expect(output.stderr.hasSuffix("killed by the memory limit (32 MiB)\n"))
    }

    @Test(arguments: [
        (["--image", "nope"], "no image named 'nope'", Int32(1)),
        (["--", "/bin/nope"], "command /bin/nope is not an executable in the image", Int32(2)),
        (["--memory", "0", "--", "true"], "--memory 0 is below the smallest limit", Int32(2)),
        (["--memory", "1k", "--", "true"], "--memory 1k is below the smallest limit", Int32(2)),
        (["--memory", "banana", "--", "true"], "--memory 'banana' is not a size", Int32(2)),
        (["--cpus", "-1", "--", "true"], "--cpus -1.0 must be a number of CPUs above 0", Int32(2)),
        (["--cap-add", "bogus", "--", "true"], "unknown capability 'bogus'", Int32(2)),
    ])
    func badInputIsOneLineAndLeavesNothing(_ arguments: [String], _ expected: String, _ status: Int32) throws {
        let output = try HostCommand.run(try isolabExecutable(), ["container", "run"] + arguments)
        #expect(output.status == status)
        #expect(output.stderr.hasPrefix("isolab: ") && output.stderr.contains(expected), "\(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1)
        #expect(try leakedByDeadLabs().isEmpty)
    }

    @Test func nonRootWithoutUsernsIsRefused() throws {
        let setpriv = try #require(HostCommand.which("setpriv"))
        let output = try HostCommand.run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", try isolabExecutable(),
                                                  "container", "run", "--image", "x", "--", "true"])
        #expect(output.status == 2)
        #expect(output.stderr.contains("containers need root"), "\(output.stderr)")
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
        let state = try JSONDecoder().decode(Container.State.self, from: Data(try FileSystem.readBytes(stateFile)))
        let containerPID = try #require(state.pid)
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
}

