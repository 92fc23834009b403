import Foundation
import LabCore
import LabModel
import LabRunner
import Testing

@Suite("scenarios")
struct ScenarioTests {
    let scenarios = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios").path

    @Test(arguments: ["startup.yaml", "overhead.yaml", "quick.yaml", "peers.yaml", "full-os.yaml", "density.yaml", "neighbour.yaml", "images.yaml"])
    func shippedScenarioParses(_ name: String) throws {
        let (scenario, _) = try Scenario.load(file: scenarios + "/" + name)
        #expect(scenario.name + ".yaml" == name)
        #expect(!scenario.backends.isEmpty && scenario.repetitions >= 1)
    }

    func expectError(_ yaml: String, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Scenario.parse(yaml, file: "s.yaml")
            Issue.record("accepted: \(yaml)", sourceLocation: sourceLocation)
        } catch let error as LabError {
            #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
            for text in expected { #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func brokenScenariosNameFileFieldLineAndAcceptedValues() {
        expectError("name: s\nbackends: [bare, docker]\n", ["s.yaml:2:", "backends[1]", "unknown backend 'docker'; accepted: bare, container, vm"])
        expectError("name: s\nworkloads: [{name: cpuu}]\n", ["s.yaml:2:", "workloads[0].name", "accepted: noop, cpu"])
        expectError("name: s\nrepetitions: 0\n", ["s.yaml:2:", "repetitions", "must be a whole number from 1 to 10000"])
        expectError("name: s\nlimits: {memory: -5M}\n", ["s.yaml:2:", "limits.memory"])
        expectError("name: s\nlimits: {cpus: -1}\n", ["limits.cpus", "out of range: a number of CPUs from"])
        expectError("name: s\nrepetitons: 3\n", ["s.yaml:2:", "unknown key 'repetitons'"])
        expectError("name: s\nvm: {accel: fast}\n", ["vm.accel", "accepted: auto, kvm, tcg"])
        expectError("name: s\nworkloads: [{name: cpu, params: {mib: 3}}]\n", ["workloads[0].params", "takes no --mib"])
        expectError("name: s\nimage: {name: x, base: alpine}\n", ["image.base", "accepted: busybox, empty"])
        expectError("name: s\nbackends: [\n", ["malformed YAML"])
        expectError("name: s\nseccomp: strict\n", ["s.yaml:2:", "seccomp", "unknown seccomp profile 'strict'; accepted: default, unconfined"])
    }

    /// `images:` compares images: two to eight different names, never beside `image:`.
    @Test func imagesListsTwoToEightImagesAndExcludesImage() throws {
        let scenario = try Scenario.parse("name: s\nimages: [busybox, layered]\n", file: "s.yaml")
        #expect(scenario.images == ["busybox", "layered"])
        expectError("name: s\nimage: busybox\nimages: [busybox, layered]\n", ["images", "either image: or images:"])
        expectError("name: s\nimages: [busybox]\n", ["images", "2 to 8 different image names"])
        expectError("name: s\nimages: [busybox, busybox]\n", ["images", "2 to 8 different image names"])
        expectError("name: s\nimages: [busybox, Bad/Name]\n", ["images", "not an image name"])
    }

    @Test func seccompIsDefaultUnlessTheScenarioSaysUnconfined() throws {
        #expect(try Scenario.parse("name: s\n", file: "s.yaml").seccomp == .default)
        #expect(try Scenario.parse("name: s\nseccomp: unconfined\n", file: "s.yaml").seccomp == .unconfined)
    }

    /// Numbers YAML accepts and a careless (or hostile) file may hold: each is
    /// refused with the file, the line, the field and the range, never a trap.
    @Test(arguments: [
        ("repetitions: .inf", "repetitions", "inf must be a whole number from 1 to 10000"),
        ("repetitions: 1e300", "repetitions", "must be a whole number from 1 to 10000"),
        ("repetitions: 2.5", "repetitions", "2.5 must be a whole number"),
        ("repetitions: -.inf", "repetitions", "-inf must be a whole number"),
        ("repetitions: .nan", "repetitions", "nan must be a whole number"),
        ("warmup: 1e19", "warmup", "must be a whole number from 0 to 1000"),
        ("seed: -1", "seed", "must be a whole number from 0 to"),
        ("seed: 1e300", "seed", "must be a whole number from 0 to"),
        ("limits: {cpus: .inf}", "limits.cpus", "inf is out of range"),
        ("limits: {cpus: .nan}", "limits.cpus", "nan is out of range"),
        ("limits: {cpu_weight: 1e300}", "limits.cpu_weight", "must be a whole number from 1 to 10000"),
        ("limits: {pids: .inf}", "limits.pids", "must be a whole number from 1 to"),
        ("limits: {memory: 1e300}", "limits.memory", "is not a size"),
        ("limits: {memory: .inf}", "limits.memory", "is not a size"),
        ("limits: {memory: 2T}", "limits.memory", "out of range: a memory limit from 4 MiB to 1 TiB"),
        ("vm: {boot_timeout: .inf}", "vm.boot_timeout", "inf is out of range"),
        ("vm: {boot_timeout: 1e300}", "vm.boot_timeout", "is out of range: seconds from 1 to 3600"),
        ("vm: {boot_timeout: 0}", "vm.boot_timeout", "0 is out of range"),
        ("vm: {vcpus: 1e300}", "vm.vcpus", "must be a whole number from 1 to 64"),
        ("vm: {memory: .inf}", "vm.memory", "is not a size"),
        ("vm: {memory: 1e300}", "vm.memory", "is not a size"),
    ])
    func hostileNumbersAreRefusedWithTheirRange(_ line: String, _ field: String, _ expected: String) {
        expectError("name: s\n\(line)\n", ["s.yaml:2:", field, expected])
    }

    @Test func agentArgumentsGiveEachWorkloadItsOwnParameters() throws {
        let scenario = try Scenario.parse("""
            name: s
            workloads: [{name: cpu, params: {seconds: 1}}, {name: memory, params: {mib: 16}}]
            """, file: "s.yaml")
        #expect(scenario.agentArguments == ["cpu", "memory", "--cpu.seconds", "1", "--memory.mib", "16"])
    }

    @Test func planInterleavesBackendsInSeededShuffledRounds() {
        let plan = Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 42)
        #expect(plan.count == 15)
        #expect(plan.filter(\.warmup).count == 3)
        for round in 0..<5 {
            #expect(Set(plan.filter { $0.round == round }.map(\.backend)) == [.bare, .container, .vm])
        }
        #expect(plan == Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 42))
        let orders = Set((0..<5).map { round in plan.filter { $0.round == round }.map(\.backend.rawValue).joined(separator: ",") })
        #expect(orders.count > 1, "every round in the same order: not shuffled")
        #expect(plan != Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 7))
    }

    @Test func densityAndNeighbourSectionsAreCheckedAndTheRampDoubles() throws {
        let scenario = try Scenario.parse("name: d\ndensity: {max_instances: 12, budget: 60}\nneighbour: {repetitions: 3}\n", file: "s.yaml")
        #expect(scenario.density?.counts == [1, 2, 4, 8, 12] && scenario.density?.budgetSeconds == 60)
        #expect(scenario.neighbour?.repetitions == 3 && scenario.neighbour?.cpuWeight == 1)
        var stepped = DensitySettings()
        stepped.maxInstances = 10
        stepped.step = 4
        #expect(stepped.counts == [1, 5, 9, 10])
        expectError("name: d\ndensity: {max_instance: 3}\n", ["s.yaml:2:", "max_instance"])
        expectError("name: d\ndensity: {max_instances: 0}\n", ["max_instances", "1"])
        expectError("name: d\nneighbour: {repetitions: 1}\n", ["repetitions"])
    }
}
