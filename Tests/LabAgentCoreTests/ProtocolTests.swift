import LabWire
import Foundation
import Testing

@testable import LabAgentCore

@Suite("agent protocol encoder")
struct ProtocolTests {
    /// The wire's contract and the agent's work agree: every workload the
    /// host may ask for has its work here, and nothing else runs.
    @Test func everyContractHasItsWorkAndNoWorkIsWithoutAContract() {
        #expect(WorkloadCatalog.names == WorkloadContracts.names)
        #expect(Set(WorkloadCatalog.bodies.keys) == Set(WorkloadContracts.names))
    }

    @Test func readyLineCarriesVersionAndEncodedFields() {
        let line = AgentProtocol.ready([("uptime_ns", "42"), ("hostname", "my host=x%"), ("kernel", "6.1.0")])
        #expect(line == "ISOLAB READY version=\(AgentProtocol.version) uptime_ns=42 hostname=my%20host%3Dx%25 kernel=6.1.0\n")
        guard case .ready(let fields) = AgentLine.parse(line.dropLast()[...]) else {
            Issue.record("READY did not parse back")
            return
        }
        #expect(fields["hostname"] == "my host=x%")
        #expect(fields["version"] == "\(AgentProtocol.version)")
        #expect(fields["uptime_ns"] == "42")
    }

    @Test func readyCarriesTheBootIDAndTheKernelsVersion() throws {
        let fields = Dictionary(uniqueKeysWithValues: Agent.readyFields(role: .process))
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fields["boot_id"] == bootID)
        let version = try String(contentsOfFile: "/proc/sys/kernel/version", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fields["kernel_version"] == version)
    }

    @Test func resultJSONDecodesWithFoundationToTheSameValue() throws {
        let result = AgentResult(workload: "cpu", params: ["seconds": "1", "b\"q": "x\ny"], metric: "sieve",
                                 value: 312.5, unit: "sieves/s", durationNs: 1_000_000_000)
        let line = AgentProtocol.result(result)
        #expect(line.hasPrefix("ISOLAB RESULT {\"workload\":\"cpu\",\"params\":{"))
        guard case .result(let json) = AgentLine.parse(line[...]) else {
            Issue.record("RESULT did not parse")
            return
        }
        #expect(try JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)) == result)
    }

    @Test func errorJSONNamesTheAcceptedValues() throws {
        let line = AgentProtocol.error(.badInput("unknown workload 'x'", workload: "x", accepted: ["noop", "cpu"]))
        guard case .error(let json) = AgentLine.parse(line[...]) else {
            Issue.record("ERROR did not parse")
            return
        }
        let error = try JSONDecoder().decode(AgentError.self, from: Data(json.utf8))
        #expect(error.accepted == ["noop", "cpu"] && error.exitStatus == 2 && error.workload == "x")
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(JSONValue.number(.infinity).encoded() == "null")
        #expect(JSONValue.number(.nan).encoded() == "null")
        #expect(JSONValue.number(1.5).encoded() == "1.5")
    }

    @Test func controlCharactersAreEscaped() throws {
        let text = "a\u{0}b\u{1F}c\"\\\t\u{2028}é"
        let encoded = JSONValue.string(text).encoded()
        #expect(encoded == "\"a\\u0000b\\u001fc\\\"\\\\\\t\\u2028é\"")
        #expect(try JSONDecoder().decode(String.self, from: Data(encoded.utf8)) == text)
    }

    @Test func serialConsoleLinesEndingInCRLFAreSplit() {
        let console = "Booting\r\nISOLAB READY version=1 pid=1\r\nISOLAB DONE exit=0\r\n[ 3.8] reboot: Power down\r\n"
        #expect(AgentLine.parseAll(console) == [.ready(["version": "1", "pid": "1"]), .done(exit: 0)])
    }

    @Test func doneCarriesOptionalFields() {
        let line = AgentProtocol.done(exit: 0, fields: [("max_rss_kb", "4640")])
        #expect(line == "ISOLAB DONE exit=0 max_rss_kb=4640\n")
        #expect(AgentLine.parse(line[...]) == .done(exit: 0))
        #expect(AgentLine.doneFields("x\r\n" + line) == ["exit": "0", "max_rss_kb": "4640"])
        #expect(AgentLine.doneFields("ISOLAB READY version=1\n").isEmpty)
    }

    @Test func doneParsesAndSerialConsoleNoiseIsTolerated() {
        #expect(AgentLine.parse("ISOLAB DONE exit=2\r") == .done(exit: 2))
        #expect(AgentLine.parse("[    3.1] random: ISOLAB DONE exit=0") == .done(exit: 0))
        #expect(AgentLine.parse("ISOLAB DONE exit=x") == nil)
        #expect(AgentLine.parse("Booting from ROM...") == nil)
        #expect(AgentLine.parse("") == nil)
    }
}

@Suite("kernel command line parser")
struct KernelCommandLineTests {
    @Test func workloadAndParametersArePercentDecoded() throws {
        let args = try KernelCommandLine.runArguments("console=ttyS0 quiet panic=-1 isolab.run=cpu%20memory%20--seconds%201\n")
        #expect(args == ["cpu", "memory", "--seconds", "1"])
    }

    @Test func severalRunParametersAreJoinedInOrder() throws {
        #expect(try KernelCommandLine.runArguments("isolab.run=noop quiet isolab.run=syscall") == ["noop", "syscall"])
    }

    @Test func quotedValuesKeepTheirSpaces() throws {
        #expect(try KernelCommandLine.runArguments("a=1 isolab.run=\"cpu --seconds 2\" b") == ["cpu", "--seconds", "2"])
    }

    @Test(arguments: [
        ("console=ttyS0 quiet", "no isolab.run="),
        ("isolab.run=", "has no value"),
        ("isolab.run", "has no value"),
        ("isolab.run=%20%20", "only spaces"),
        ("isolab.run=cpu isolab.debug=1", "unknown kernel parameter isolab.debug"),
        ("isolab.run=cpu%", "invalid percent-encoding"),
        ("isolab.run=cpu%4", "invalid percent-encoding"),
        ("isolab.run=cpu%G1", "invalid percent-encoding"),
        ("isolab.run=%FF%FE", "not UTF-8"),
    ])
    func hostileInputIsABadInputError(_ text: String, _ expected: String) {
        do {
            _ = try KernelCommandLine.runArguments(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.exitStatus == 2)
            #expect(error.error.contains(expected), "\(error.error)")
        }
    }

    @Test func modulesAndAVolumeComeBeforeTheWorkloads() throws {
        let settings = try KernelCommandLine.settings(
            "console=ttyS0 isolab.run=fileio%20--dir%20/data isolab.module=/lib/modules/isolab/virtio.ko isolab.module=/lib/modules/isolab/virtio_blk.ko isolab.volume=/dev/vda:/data")
        #expect(settings.run == ["fileio", "--dir", "/data"])
        #expect(settings.modules == ["/lib/modules/isolab/virtio.ko", "/lib/modules/isolab/virtio_blk.ko"])
        #expect(settings.volumes == [KernelCommandLine.Volume(device: "/dev/vda", directory: "/data")])
    }

    @Test(arguments: [
        ("isolab.run=noop isolab.module=virtio.ko", "not an absolute path of a .ko file"),
        ("isolab.run=noop isolab.module=/etc/passwd", "not an absolute path of a .ko file"),
        ("isolab.run=noop isolab.volume=/data", "is not DEVICE:DIRECTORY"),
        ("isolab.run=noop isolab.volume=vda:/data", "is not DEVICE:DIRECTORY"),
        ("isolab.run=noop isolab.volume=/dev/vda:data", "is not DEVICE:DIRECTORY"),
    ])
    func badModulesAndVolumesAreBadInput(_ text: String, _ expected: String) {
        do {
            _ = try KernelCommandLine.settings(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.exitStatus == 2 && error.error.contains(expected), "\(error.error)")
        }
    }

    @Test func veryLongLinesAreRefusedWithoutWork() throws {
        let long = "isolab.run=noop " + String(repeating: "x", count: 100_000)
        #expect(throws: AgentError.self) { try KernelCommandLine.runArguments(long) }
        // Long but legal: many parameters, handled in full.
        let many = (0..<500).map { "p\($0)=v" }.joined(separator: " ") + " isolab.run=noop"
        #expect(try KernelCommandLine.runArguments(many) == ["noop"])
    }
}

@Suite("run arguments")
struct InvocationTests {
    @Test func sharedParametersGoToEveryWorkloadThatTakesThem() throws {
        let runs = try Invocation.parse(["noop", "cpu", "memory", "--seconds", "1", "--mib", "8"])
        #expect(runs.map(\.name) == ["noop", "cpu", "memory"])
        #expect(runs[0].params.isEmpty)
        #expect(runs[1].params == ["seconds": "1"])
        #expect(runs[2].params == ["seconds": "1", "mib": "8"])
    }

    @Test func workloadSpecificParametersWin() throws {
        let runs = try Invocation.parse(["memory", "fileio", "--mib", "8", "--fileio.mib", "2"])
        #expect(runs[0].params["mib"] == "8")
        #expect(runs[1].params["mib"] == "2")
        #expect(runs[1].params["dir"] == "/tmp")
    }

    @Test(arguments: [
        (["bogus"], "unknown workload 'bogus'"),
        ([], "no workload given"),
        (["cpu", "--seconds"], "needs a value"),
        (["cpu", "--seconds", "-1"], "--seconds -1 is not a number of seconds"),
        (["cpu", "--seconds", "inf"], "is not a number of seconds"),
        (["memory", "--mib", "0"], "--mib 0 is not an integer in 1...65536"),
        (["memory", "--mib", "banana"], "--mib banana"),
        (["noop", "--mib", "8"], "no workload of noop takes --mib"),
        (["cpu", "--memory.mib", "8"], "names a workload that is not run"),
        (["cpu", "--cpu.mib", "8"], "workload cpu takes no --mib"),
        (["fileio", "--dir", "relative"], "not an absolute path"),
        (["cpu", "--", "1"], "empty option"),
    ])
    func badArgumentsAreNamed(_ arguments: [String], _ expected: String) {
        do {
            _ = try Invocation.parse(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            #expect(error.exitStatus == 2)
            #expect(error.error.contains(expected), "\(error.error)")
        }
    }

    @Test func unknownWorkloadListsTheAcceptedOnes() {
        do {
            _ = try Invocation.parse(["cpu", "bogus"])
        } catch {
            #expect(error.accepted == WorkloadCatalog.names)
        }
    }
}

@Suite("workload kernels")
struct WorkloadKernelTests {
    @Test func sha256MatchesTheStandardVectors() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sieveCountsPrimes() {
        #expect(CPUWorkload.primes(below: 100) == 25)
        #expect(CPUWorkload.primes(below: 1_000_000) == 78_498)
    }

    /// A whole OS's BOOT line: JSON after the marker, read back by the host's model's keys.
    @Test func bootLineCarriesSystemdsTimingAndParsesBack() throws {
        let line = AgentProtocol.boot([("init", .string("systemd")), ("clock", .string("guest monotonic")), ("kernel_us", .integer(0)),
                                       ("userspace_us", .integer(9_921_305)), ("finish_us", .integer(28_768_724)),
                                       ("blame", .array([.object([("unit", .string("dev-vda.device")), ("ms", .number(11804)), ("text", .string("11.804s"))])]))])
        #expect(line.hasPrefix("ISOLAB BOOT {"))
        guard case .boot(let json) = AgentLine.parse(("[  OK  ] noise " + line).dropLast()[...]) else {
            Issue.record("BOOT did not parse back")
            return
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["userspace_us"] as? Int == 9_921_305 && object["init"] as? String == "systemd")
    }

    /// systemd-analyze's durations, as blame prints them.
    @Test func systemdDurationsAreSeconds() {
        #expect(SystemService.seconds("11.804s") == 11.804)
        #expect(SystemService.seconds("353ms") == 0.353)
        #expect(SystemService.seconds("1min 2.5s") == 62.5)
        #expect(SystemService.seconds("27us").map { abs($0 - 0.000027) < 1e-12 } == true)
        #expect(SystemService.seconds("soon") == nil && SystemService.seconds("") == nil)
    }
}

@Suite("a guest's command: the kernel command line and OUTPUT lines")
struct GuestCommandProtocolTests {
    @Test func execRootAndConfigRoundTripThroughTheCommandLine() throws {
        var settings = KernelCommandLine.Settings(modules: ["/lib/modules/isolab/virtio.ko"], root: "/dev/vda")
        settings.exec = .init(argv: ["/bin/sh", "-c", "echo a=b 100% \"q\""], environment: ["PATH=/bin", "GREETING=hello world"],
                              workdir: "/etc", user: "1234:2345")
        let line = "console=ttyS0 quiet " + KernelCommandLine.render(settings)
        #expect(!line.contains("isolab.run="))
        #expect(try KernelCommandLine.settings(line) == settings)
    }

    @Test func badCommandSettingsAreRefused() {
        for bad in ["isolab.exec=/bin/sh isolab.run=noop", "isolab.run=noop isolab.user=app", "isolab.run=noop isolab.root=vda",
                    "isolab.env=A=1 isolab.run=noop", "isolab.exec=/bin/true isolab.workdir=relative"] {
            #expect(throws: AgentError.self, "\(bad)") { try KernelCommandLine.settings(bad) }
        }
    }

    /// Any bytes, not only UTF-8: one ASCII token each way.
    @Test func outputLinesCarryAnyBytes() throws {
        let bytes: [UInt8] = Array("line 1\nα=β %\r\n".utf8) + [0x00, 0xFF, 0x80]
        let line = AgentProtocol.output(stream: "stderr", bytes)
        #expect(line.utf8.allSatisfy { $0 < 0x80 } && line.filter { $0 == "\n" }.count == 1)
        #expect(AgentLine.parse(line[...]) == .output(stream: "stderr", data: bytes))
        #expect(AgentLine.parse("ISOLAB OUTPUT stream=stdout data=%ZZ") == nil)
    }
}
