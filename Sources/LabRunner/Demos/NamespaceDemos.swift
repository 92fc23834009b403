import LabWire
import Foundation
import LabAnalysis
import LabContainer
import LabCore
import LabModel

/// PID namespaces: the first process is PID 1, sees only its own, has a
/// second number on the host, and takes every other process with it.
struct PIDDemo: Demo {
    let name = "pid"
    let title = "PID namespace: a process tree of its own"
    let claim = ClaimCatalogue.statement("namespace.pid")
    let feature = "the PID namespace (the container shares the host's)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let sharing: Set<NamespaceKind> = s.without ? [.pid] : []
        let host = NamespaceProbes.hostProcesses(), processScript = NamespaceProbes.processScript
        let hostCount = Int(host["count"] ?? "") ?? 0, hostFirst = host["pid1"] ?? "?"
        // Step 1 and 2: one container, asked from inside and read from the host.
        let nspid = Carried("")
        let inside = keyValues(try await InstanceRun.run(try s.container(sharing: sharing), s.shell(processScript + "; sleep 0.3"),
                                                         endAfterDuring: false) { instance in
            let container = try Probed(instance, for: "the namespace demo")
            let status = FileSystem.readTextIfPresent("/proc/\(container.pid)/status") ?? ""
            nspid.value = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }.map {
                $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().joined(separator: " ")
            } ?? "?"
        }.output)
        let count = Int(inside["count"] ?? "") ?? -1
        s.evidence["inside.pid1"] = inside["pid1"] ?? "?"
        s.evidence["inside.processes"] = String(count)
        s.evidence["host.processes"] = String(hostCount)
        s.step("Start a container running sh; ask it who PID 1 is and how many processes it sees",
               command: "cat /proc/1/comm; ls /proc | grep -c '^[0-9]*$'",
               expect: "PID 1 is the container's own sh, and only a handful of processes",
               inside: "PID 1 is \(inside["pid1"] ?? "?"); \(count) processes",
               host: "PID 1 is \(hostFirst); \(hostCount) processes",
               passed: IsolationRules.pidTreeIsolated(inside, host: host))
        let numbers = nspid.value.split(separator: " ")
        s.evidence["host.NSpid"] = nspid.value
        s.step("Read the same process from the host: its status has one PID per namespace it is in",
               command: "grep NSpid /proc/HOSTPID/status",
               expect: "two numbers: the host's PID, then 1",
               inside: "1", host: "NSpid: \(nspid.value)",
               passed: numbers.count == 2 && numbers.last == "1")

        // Step 3: PID 1 dies, the namespace dies with it.
        let survivors = Carried<(children: [pid_t], alive: [pid_t])>(([], []))
        _ = try await InstanceRun.run(try s.container(sharing: sharing), s.shell("sleep 100 & sleep 100 & sleep 100 & wait", timeout: 60),
                                      endAfterDuring: true) { instance in
            let container = try Probed(instance, for: "the namespace demo")
            var children: [pid_t] = []
            for _ in 0..<300 {
                children = container.cgroups.processes().filter { $0 != container.pid }
                if children.count >= 3 { break }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            kill(container.pid, SIGKILL)
            var alive = children
            for _ in 0..<200 where !alive.isEmpty {
                try await Task.sleep(nanoseconds: 10_000_000)
                alive = children.filter { ProcessState.isAlive($0) }
            }
            survivors.value = (children, alive)
        }
        s.evidence["children"] = String(survivors.value.children.count)
        s.evidence["children.alive.after.kill"] = String(survivors.value.alive.count)
        s.step("Kill the container's PID 1 from the host; look for its three children",
               command: "kill -KILL HOSTPID; ps -p CHILD1,CHILD2,CHILD3",
               expect: "every other process of the namespace is gone with it",
               inside: "\(survivors.value.children.count) children (sleep 100) started",
               host: survivors.value.alive.isEmpty ? "all gone" : "\(survivors.value.alive.count) still running",
               passed: survivors.value.children.count >= 3 && survivors.value.alive.isEmpty)

        // The control: the same container sharing the host's PID namespace.
        let control = keyValues(try await InstanceRun.run(try s.container(sharing: [.pid]), s.shell(processScript)).output)
        let controlCount = Int(control["count"] ?? "") ?? -1
        s.control("The same container, sharing the host's PID namespace",
                  command: "cat /proc/1/comm; ls /proc | grep -c '^[0-9]*$'",
                  expect: "the host's PID 1 and all of the host's processes",
                  inside: "PID 1 is \(control["pid1"] ?? "?"); \(controlCount) processes",
                  host: "PID 1 is \(hostFirst); \(hostCount) processes",
                  sawHost: IsolationRules.pidTreeIsHosts(control, host: host))
    }
}

/// UTS namespaces: the hostname is the container's own; the kernel's name
/// and version, which the notes say UTS isolates, are the host's.
struct UTSDemo: Demo {
    let name = "uts"
    let title = "UTS namespace: a hostname of its own, not a kernel"
    let claim = ClaimCatalogue.statement("namespace.uts")
    let feature = "the UTS namespace (the container shares the host's)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let sharing: Set<NamespaceKind> = s.without ? [.uts] : []
        let script = NamespaceProbes.utsScript
        let hostBefore = ProcessInfo.processInfo.hostName
        let inside = try await s.ask(try s.container(sharing: sharing, hostname: "demo-inside"), script)
        let hostAfter = Self.hostname()
        s.evidence["inside.hostname"] = inside["hostname"] ?? "?"
        s.evidence["host.hostname"] = hostAfter
        s.step("Start a container whose hostname the lab sets to demo-inside (sethostname in its UTS namespace); ask both sides",
               command: "hostname demo-inside; hostname",
               expect: "demo-inside inside; the host's name unchanged",
               inside: inside["hostname"] ?? "?", host: hostBefore == hostAfter ? "\(hostAfter) (unchanged)" : "\(hostBefore) became \(hostAfter)",
               passed: inside["hostname"] == "demo-inside" && hostAfter == hostBefore && hostAfter != "demo-inside")
        let release = HostInfo.current().kernelRelease
        let version = (FileSystem.readTextIfPresent("/proc/sys/kernel/version") ?? "?").trimmingWhitespace()
        s.evidence["inside.release"] = inside["release"] ?? "?"
        s.step("Ask for the kernel's release and version, which the notes say UTS isolates",
               command: "uname -r; uname -v",
               expect: "the host's, both: a container has no kernel of its own to name (the notes are wrong here)",
               inside: "\(inside["release"] ?? "?"); \(inside["version"] ?? "?")", host: "\(release); \(version)",
               passed: inside["release"] == release && inside["version"] == version)
        let control = try await s.ask(try s.container(sharing: [.uts], hostname: "demo-inside"), script)
        s.control("The same container, sharing the host's UTS namespace (the lab then sets no hostname)",
                  command: "hostname", expect: "the host's name",
                  inside: control["hostname"] ?? "?", host: hostAfter, sawHost: control["hostname"] == hostAfter)
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// IPC namespaces: a SysV segment and a POSIX queue of the host are absent
/// inside, and a queue made inside is absent on the host.
struct IPCDemo: Demo {
    let name = "ipc"
    let title = "IPC namespace: shared memory and message queues of its own"
    let claim = ClaimCatalogue.statement("namespace.ipc")
    let feature = "the IPC namespace (the container shares the host's)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let sharing: Set<NamespaceKind> = s.without ? [.ipc] : []
        let segment = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600)
        guard segment >= 0 else { throw LabError.syscall("shmget") }
        let queue = "/isolab-demo-\(getpid())"
        let insideQueue = "isolab-inside-\(getpid())"
        do { try NamespaceTools.createMessageQueue(queue) } catch { shmctl(segment, IPC_RMID, nil); throw error }
        // Removed on every path, a signal included; the queue made inside too
        // (it is the host's when the container shares the host's namespace).
        let cleanup = { @Sendable in
            shmctl(segment, IPC_RMID, nil)
            NamespaceTools.removeMessageQueue(queue)
            NamespaceTools.removeMessageQueue("/" + insideQueue)
        }
        let token = CleanupRegistry.shared.register(cleanup)
        defer { cleanup(); CleanupRegistry.shared.unregister(token) }

        let queues = #"echo "mq=$(ls /dev/mqueue | tr '\n' ' ')"; "#
        let script = NamespaceProbes.shmScript + "; " + queues + "touch /dev/mqueue/" + insideQueue + #" && echo made=yes || echo made=no"#
        let list = IsolationRules.words
        let inside = try await s.ask(try s.container(sharing: sharing), script)
        let insideSegments = list(inside["ids"]), insideQueues = list(inside["mq"])
        s.evidence["host.shmid"] = String(segment)
        s.evidence["inside.shm"] = insideSegments.joined(separator: " ")
        s.step("The host makes a System V shared-memory segment (shmid \(segment)); the container lists the segments it can see",
               command: "ipcmk -M 4096 (host); cat /proc/sysvipc/shm (inside)",
               expect: "the host's segment is not among them",
               inside: insideSegments.isEmpty ? "no segment" : "segments \(insideSegments.joined(separator: ", "))", host: "segment \(segment)",
               passed: !insideSegments.contains(String(segment)))
        s.evidence["inside.mqueue"] = insideQueues.joined(separator: " ")
        s.step("The host makes a POSIX message queue \(queue); the container lists its /dev/mqueue",
               command: "mq_open(\"\(queue)\", O_CREAT) (host); ls /dev/mqueue (inside)",
               expect: "the host's queue is not there",
               inside: insideQueues.isEmpty ? "no queue" : insideQueues.joined(separator: ", "), host: "queue \(queue)",
               passed: !insideQueues.contains(String(queue.dropFirst())))
        let onHost: Bool?
        do { onHost = try NamespaceTools.messageQueueExists("/" + insideQueue) } catch { onHost = nil }
        s.step("The container makes a queue of its own (\(insideQueue)); the host looks for it",
               command: "touch /dev/mqueue/\(insideQueue) (inside); mq_open(\"/\(insideQueue)\") (host)",
               expect: "made inside, absent on the host",
               inside: inside["made"] == "yes" ? "made" : "not made", host: onHost == true ? "present" : onHost == false ? "absent (ENOENT)" : "error",
               passed: inside["made"] == "yes" && onHost == false)
        let control = try await s.ask(try s.container(sharing: [.ipc]), NamespaceProbes.shmScript + "; " + queues)
        s.control("The same container, sharing the host's IPC namespace",
                  command: "cat /proc/sysvipc/shm; ls /dev/mqueue", expect: "the host's segment and queue",
                  inside: "segments \(list(control["ids"]).joined(separator: ", ")); queues \(list(control["mq"]).joined(separator: ", "))",
                  host: "segment \(segment); queue \(queue)",
                  sawHost: list(control["ids"]).contains(String(segment)) && list(control["mq"]).contains(String(queue.dropFirst())))
    }
}

/// MNT namespaces: a mount inside stays inside, a mount on the host stays on the host.
struct MNTDemo: Demo {
    let name = "mnt"
    let title = "Mount namespace: a mount table of its own"
    let claim = ClaimCatalogue.statement("namespace.mnt")
    let feature = "the mount namespace (the probe runs as a host process)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let point = s.context.paths.run + "/demo-mnt-\(getpid())-\(InstanceID.next())"
        try s.context.paths.ensure(.run)
        try FileSystem.makeDirectory(point, mode: 0o700)
        let marker = (point as NSString).lastPathComponent
        let cleanup = { @Sendable in
            umount2(point, Int32(MNT_DETACH))
            _ = umount2(point, Int32(MNT_DETACH))
            rmdir(point)
        }
        let token = CleanupRegistry.shared.register(cleanup)
        defer { cleanup(); CleanupRegistry.shared.unregister(token) }
        let insideTarget = "/run/demo-inside"
        // The container waits for the lab's go; then shows what it sees.
        let show = #"echo "inner=$(grep -c isolab-demo /proc/self/mountinfo)"; echo "outer=$(grep -c "# + marker + #" /proc/self/mountinfo)""#
        let script = "mkdir -p \(insideTarget); while [ ! -e /tmp/go ]; do sleep 0.02; done; " + show
        var insideValues: [String: String] = [:]
        let sawInner = Carried(false)
        if s.without {
            // No mount namespace: the "container" is a host process, and the
            // "inside" mount is the host's own.
            let target = point + "-inner"
            try FileSystem.makeDirectory(target, mode: 0o700)
            defer { umount2(target, Int32(MNT_DETACH)); rmdir(target) }
            guard mount("isolab-demo", target, "tmpfs", 0, "size=64k") == 0 else { throw LabError.syscall("mount tmpfs on \(target)") }
            guard mount("tmpfs", point, "tmpfs", 0, "size=64k") == 0 else { throw LabError.syscall("mount tmpfs on \(point)") }
            insideValues = try await s.ask(s.context.bare(), show, bare: true)
            sawInner.value = (FileSystem.readTextIfPresent("/proc/self/mountinfo") ?? "").contains("isolab-demo")
        } else {
            let inside = try await InstanceRun.run(try s.container(), s.shell(script), endAfterDuring: false) { instance in
                let container = try Probed(instance, for: "the namespace demo")
                let root = "/proc/\(container.pid)/root"
                for _ in 0..<500 where !FileSystem.isDirectory(root + insideTarget) { try await Task.sleep(nanoseconds: 10_000_000) }
                let pid = container.pid
                try await Blocking.run { try NamespaceTools.mountTmpfs(inMountNamespaceOf: pid, at: insideTarget) }
                guard mount("tmpfs", point, "tmpfs", 0, "size=64k") == 0 else { throw LabError.syscall("mount tmpfs on \(point)") }
                sawInner.value = (FileSystem.readTextIfPresent("/proc/self/mountinfo") ?? "").contains("isolab-demo")
                let go = open(root + "/tmp/go", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                guard go >= 0 else { throw LabError.syscall("signal the container (create its /tmp/go)") }
                close(go)
            }
            insideValues = keyValues(inside.output)
        }
        let hostSawInner = sawInner.value
        let hostSawOuter = (FileSystem.readTextIfPresent("/proc/self/mountinfo") ?? "").contains(marker)
        s.evidence["inside.sees.inner"] = insideValues["inner"] ?? "?"
        s.evidence["host.sees.inner"] = hostSawInner ? "1" : "0"
        s.step("Mount a tmpfs inside the container (the lab does it in the container's mount namespace); look for it on both sides",
               command: "nsenter -t PID -m mount -t tmpfs isolab-demo \(insideTarget); grep isolab-demo /proc/self/mountinfo",
               expect: "in the container's mount table, not in the host's",
               inside: insideValues["inner"] == "1" ? "mounted" : "not mounted (\(insideValues["inner"] ?? "?"))",
               host: hostSawInner ? "in the host's mount table" : "not in the host's mount table",
               passed: insideValues["inner"] == "1" && !hostSawInner)
        s.evidence["inside.sees.outer"] = insideValues["outer"] ?? "?"
        s.step("The host mounts a tmpfs after the container started (\(marker)); the container looks for it",
               command: "mount -t tmpfs tmpfs \(point) (host); grep \(marker) /proc/self/mountinfo (inside)",
               expect: "mounted on the host, absent inside",
               inside: insideValues["outer"] == "0" ? "not in its mount table" : "in its mount table",
               host: hostSawOuter ? "mounted" : "not mounted",
               passed: insideValues["outer"] == "0" && hostSawOuter)
        let control = try await s.ask(s.context.bare(), #"echo "outer=$(grep -c "# + marker + #" /proc/self/mountinfo)""#, bare: true)
        s.control("The same question from a bare host process (no mount namespace of its own)",
                  command: "grep \(marker) /proc/self/mountinfo", expect: "the host's mount",
                  inside: control["outer"] == "1" ? "in its mount table" : "not in its mount table (\(control["outer"] ?? "?"))",
                  host: "mounted", sawHost: IsolationRules.mountSeen(control["outer"]))
    }
}
