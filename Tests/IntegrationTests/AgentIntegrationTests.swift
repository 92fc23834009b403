import Foundation
import LabWire
import LabCore
import LabImage
import LabModel
import Testing

@testable import LabVirt

/// The protocol lines of an agent's output, parsed.
struct AgentTranscript {
    var ready: [String: String]?
    var results: [AgentResult] = []
    var errors: [AgentError] = []
    var done: Int32?

    init(_ text: String) throws {
        for line in AgentLine.parseAll(text) {
            switch line {
            case .ready(let fields): ready = fields
            case .result(let json): results.append(try JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)))
            case .error(let json): errors.append(try JSONDecoder().decode(AgentError.self, from: Data(json.utf8)))
            case .done(let status): done = status
            case .boot, .output: break
            }
        }
    }
}

@Suite("Integration (this host): isolab-agent bare and as PID 1")
struct AgentBareIntegrationTests {
    static let expectedMetrics: [String: Set<String>] = [
        "cpu": ["sieve", "sha256", "fp", "sieve_sustained"], "memory": ["copy", "scale", "add", "triad", "sustained"], "syscall": ["getppid"],
        "spawn": ["spawn"], "fileio": ["seq_write", "seq_read", "rand_write_fsync"], "net": ["rtt", "bulk"],
        "alloc": ["touched", "touch_rate"], "idle": ["idle"],
    ]

    @Test func everyWorkloadRunsBareAndReportsEachMetric() throws {
        let output = try HostCommand.run(
            try builtExecutable("isolab-agent"),
            ["run", "noop", "cpu", "memory", "syscall", "spawn", "fileio", "net", "alloc", "idle", "--seconds", "0.2", "--mib", "8"],
            timeout: 120)
        #expect(output.status == 0, "\(output.stderr)")
        let transcript = try AgentTranscript(output.stdout)
        let ready = try #require(transcript.ready)
        for key in ["version", "uptime_ns", "pid", "hostname", "kernel", "kernel_version", "boot_id", "mem_total_kb", "mem_available_kb", "ncpu"] {
            #expect(ready[key] != nil, "READY lacks \(key)")
        }
        #expect(ready["role"] == "process")
        #expect(transcript.done == 0)
        #expect(transcript.errors.isEmpty)
        for (workload, metrics) in Self.expectedMetrics {
            let got = Set(transcript.results.filter { $0.workload == workload }.map(\.metric))
            #expect(got == metrics, "\(workload): \(got)")
        }
        #expect(transcript.results.allSatisfy { $0.value > 0 && $0.value.isFinite && $0.durationNs > 0 })
        // The agent's own peak RSS: the 8 MiB STREAM arrays (three of them) at least.
        #expect(Int(AgentLine.doneFields(output.stdout)["max_rss_kb"] ?? "") ?? 0 > 24 * 1024)
        // Its own CPU time: at least the cpu workload's.
        #expect(Int(AgentLine.doneFields(output.stdout)["cpu_ns"] ?? "") ?? 0 > 100_000_000)
        // Results come in the order the workloads were named.
        let order = transcript.results.map(\.workload).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        #expect(order == ["cpu", "memory", "syscall", "spawn", "fileio", "net", "alloc", "idle"])
    }

    @Test func unknownWorkloadIsAnErrorListingTheAcceptedOnes() throws {
        let output = try HostCommand.run(try builtExecutable("isolab-agent"), ["run", "noop", "bogus"])
        #expect(output.status == 2)
        let transcript = try AgentTranscript(output.stdout)
        #expect(transcript.ready != nil)
        #expect(transcript.done == 2)
        let error = try #require(transcript.errors.first)
        #expect(error.error == "unknown workload 'bogus'")
        #expect(error.accepted == WorkloadContracts.names)
        #expect(output.stderr.contains("unknown workload 'bogus'"))
    }

    @Test func controlDescriptorCarriesTheProtocol() throws {
        let agent = try builtExecutable("isolab-agent")
        let file = "/tmp/isolab-control-\(getpid())"
        defer { unlink(file) }
        let output = try HostCommand.run("/bin/sh", ["-c", "exec \(agent) --control-fd 3 run noop 3>\(file)"])
        #expect(output.status == 0)
        #expect(output.stdout.isEmpty)
        let transcript = try AgentTranscript(try FileSystem.readText(file))
        #expect(transcript.ready != nil && transcript.done == 0)
        let bad = try HostCommand.run(agent, ["--control-fd", "99", "run", "noop"])
        #expect(bad.status == 2)
        #expect(bad.stdout.contains("--control-fd 99 is not an open file descriptor"))
    }

    /// PID 1 of a new PID namespace, as in a container (made here with util-linux's unshare).
    @Test func asPIDOneOfANamespaceItReportsContainerRoleAndExitsWithTheStatus() throws {
        let unshare = try #require(HostCommand.which("unshare"))
        let agent = try builtExecutable("isolab-agent")
        let ok = try HostCommand.run(unshare, ["--pid", "--fork", "--mount-proc", agent, "run", "spawn", "--count", "5"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let transcript = try AgentTranscript(ok.stdout)
        #expect(transcript.ready?["pid"] == "1")
        #expect(transcript.ready?["role"] == "container")
        #expect(transcript.done == 0)
        let bad = try HostCommand.run(unshare, ["--pid", "--fork", "--mount-proc", agent, "run", "nope"])
        #expect(bad.status == 2)
    }
}

@Suite("Integration (QEMU, TCG): isolab-agent as a VM's init", .needsQEMU)
struct AgentVMIntegrationTests {
    /// An initramfs holding only the agent (static: no library closure) as /init.
    func initramfs() throws -> String {
        var writer = CpioWriter()
        for directory in ["dev", "proc", "sys", "tmp", "sbin"] { try writer.appendDirectory(directory) }
        try writer.appendFile("sbin/isolab-agent", mode: 0o755, contents: try FileSystem.readBytes(try builtExecutable("isolab-agent")))
        try writer.appendSymlink("init", target: "sbin/isolab-agent")
        writer.finish()
        let path = "/tmp/isolab-agent-initramfs-\(getpid())-\(UUID().uuidString).cpio"
        try FileSystem.writeAtomically(path, bytes: writer.bytes)
        return path
    }

    func boot(_ run: String) throws -> (HostCommand.Output, AgentTranscript) {
        let kernel = try GuestKernel.find(paths: .fromEnvironment()).get()
        let image = try initramfs()
        defer { unlink(image) }
        let qemu = try #require(HostCommand.which("qemu-system-x86_64"))
        let output = try HostCommand.run(qemu, [
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-machine", "pc", "-accel", "tcg", "-m", "256", "-kernel", kernel.path, "-initrd", image,
            "-append", "console=ttyS0 quiet panic=-1 isolab.run=\(run)",
        ], timeout: 180)
        return (output, try AgentTranscript(output.stdout))
    }

    @Test func bootsToReadyRunsAndPowersOffByItself() throws {
        let (output, transcript) = try boot("noop%20syscall%20--seconds%200.2")
        #expect(!output.timedOut, "the guest did not power off: \(output.stdout.suffix(2000))")
        #expect(output.status == 0)
        let ready = try #require(transcript.ready, "no READY in \(output.stdout.suffix(2000))")
        #expect(ready["role"] == "vm" && ready["pid"] == "1")
        #expect(ready["kernel"]?.contains("cloud") == true)
        #expect(transcript.results.map(\.metric) == ["getppid"])
        #expect(transcript.done == 0)
    }

    @Test func badWorkloadOnTheCommandLineIsReportedAndTheGuestStillPowersOff() throws {
        let (output, transcript) = try boot("bogus")
        #expect(!output.timedOut)
        #expect(transcript.errors.first?.error == "unknown workload 'bogus'")
        #expect(transcript.done == 2)
    }
}
