import Foundation
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabVirt

/// One teaching demo: a short, narrated experiment on one claim of the
/// notes, each step seen from inside and from the host, with a negative
/// control, ending in a verdict computed from what was seen.
protocol Demo: Sendable {
    var name: String { get }
    var title: String { get }
    /// The claim of the notes it tests.
    var claim: String { get }
    /// What `without` takes away (for the tests that show the demo fails then).
    var feature: String { get }
    var needsVM: Bool { get }
    func run(_ session: DemoSession) async throws
}

/// How demos are run: narrated live, paused between steps, or silent.
public struct DemoOptions: Sendable {
    /// Called with each step (and the control) as soon as it is seen.
    public var onStep: (@Sendable (DemoStep, _ isControl: Bool) -> Void)?
    /// Called between steps (class mode: wait for Enter).
    public var pause: (@Sendable () -> Void)?
    /// Called with a transient line (a live phase display).
    public var onLive: (@Sendable (String) -> Void)?
    public var libvirtURI = "qemu:///system"
    public var paths: LabPaths = .fromEnvironment()
    /// Tests only: run the demo without the feature it shows. A demo that
    /// still passes then cannot fail, which is a defect.
    public var without = false

    public init() {}
}

/// The demos, in the order a class would meet them.
public enum Demos {
    static let catalog: [any Demo] = [
        PIDDemo(), UTSDemo(), IPCDemo(), MNTDemo(), NETDemo(), KernelDemo(), LimitsDemo(), CPUShareDemo(),
        FreezeDemo(), LayersDemo(), UserNamespaceDemo(), EscapeDemo(), RaceDemo(),
    ]

    /// (name, title, the claim, needs a VM, what it removes when run `without`).
    public static var list: [(name: String, title: String, claim: String, needsVM: Bool, feature: String)] {
        catalog.map { ($0.name, $0.title, $0.claim, $0.needsVM, $0.feature) }
    }

    public static var names: [String] { catalog.map(\.name) }

    /// Runs demo `name`; an unknown name is bad input.
    public static func run(_ name: String, options: DemoOptions = DemoOptions()) async throws -> DemoRecord {
        guard let demo = catalog.first(where: { $0.name == name }) else {
            throw LabError(.invalidInput, "no demo named '\(name)'; accepted: \(names.joined(separator: ", ")) (isolab demo list)")
        }
        let session = try DemoSession(demo: demo, options: options)
        let start = MonotonicClock.now()
        try await demo.run(session)
        return session.record(seconds: Double(MonotonicClock.now() - start) / 1e9)
    }
}

/// What a demo runs with, and what it has seen so far.
final class DemoSession: @unchecked Sendable {
    let demo: any Demo
    let options: DemoOptions
    let context: CheckContext
    let image: ImageStore.Record
    var without: Bool { options.without }
    private let lock = NSLock()
    private var steps: [DemoStep] = []
    private var control: DemoStep?
    var evidence: [String: String] = [:]
    var chart: DemoChart?
    var accelerator: String?

    init(demo: any Demo, options: DemoOptions) throws {
        self.demo = demo
        self.options = options
        let store = ImageStore(paths: options.paths)
        image = try ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath()).build(.builtinBusybox).record
        context = CheckContext(rootfs: image.rootfs, layout: try CgroupLayout.detectHost(), paths: options.paths)
    }

    /// Records and narrates a step; pauses after it in class mode.
    func step(_ what: String, command: String, expect: String, inside: String, host: String, passed: Bool?) {
        let step = lock.withLock { () -> DemoStep in
            let step = DemoStep(number: steps.count + 1, what: what, command: command, expect: expect, inside: inside, host: host, passed: passed)
            steps.append(step)
            return step
        }
        options.onStep?(step, false)
        options.pause?()
    }

    /// The negative control: the same probe without the feature.
    func control(_ what: String, command: String, expect: String, inside: String, host: String, sawHost: Bool) {
        let step = DemoStep(number: 0, what: what, command: command, expect: expect, inside: inside, host: host, passed: sawHost)
        lock.withLock { control = step }
        options.onStep?(step, true)
    }

    func live(_ line: String) { options.onLive?(line) }

    func record(seconds: Double) -> DemoRecord {
        lock.withLock {
            DemoRecord(name: demo.name, title: demo.title, claim: demo.claim, steps: steps, control: control,
                       verdict: DemoRecord.verdict(steps: steps, control: control), evidence: evidence, chart: chart,
                       accelerator: accelerator, without: without ? demo.feature : nil, seconds: seconds,
                       host: "\(ProcessInfo.processInfo.hostName) (Linux \(HostInfo.current().kernelRelease))")
        }
    }

    // MARK: what demos start

    /// A container of the image; `sharing` names namespaces it keeps the host's.
    func container(limits: CgroupLimits = CgroupLimits(), sharing: Set<NamespaceKind> = [], cpuAffinity: [Int]? = nil,
                   userNamespace: Bool = false, seccomp: Seccomp.Profile = .default, restrictDevices: Bool = true,
                   hostname: String? = nil) throws -> ContainerBackend {
        var template = ContainerSpec(rootfs: image.rootfs, command: [], hostname: hostname, limits: limits,
                                     capabilities: try Capabilities.set(adding: [], dropping: []).mask, userNamespace: userNamespace)
        template.sharedNamespaces = sharing
        template.cpuAffinity = cpuAffinity
        template.seccomp = seccomp
        template.restrictDevices = restrictDevices
        return ContainerBackend(template: template, layout: context.layout, paths: context.paths)
    }

    /// A guest of the image, with the accelerator the doctor chooses.
    func vm() async throws -> VMBackend {
        let kernel = try GuestKernel.find(paths: context.paths).get()
        var doctorOptions = Doctor.Options()
        doctorOptions.libvirtURI = options.libvirtURI
        doctorOptions.paths = context.paths
        let (choice, _) = try Doctor(options: doctorOptions).acceleratorDecision(.auto, kernel: kernel)
        accelerator = choice.accelerator.label
        let connection = try await LibvirtConnection.open(uri: options.libvirtURI)
        return VMBackend(connection: connection, kernel: kernel, initramfs: image.initramfs, settings: Scenario.VMSettings(),
                         accelerator: choice.accelerator, paths: context.paths)
    }

    /// `sh -c SCRIPT` inside (or, `bare`, the image's shell as a host process).
    func shell(_ script: String, bare: Bool = false, timeout: Double = 30) -> InstanceRequest {
        context.shell(script, bare: bare, timeout: timeout)
    }

    /// Runs `script` in `backend` and returns its output's key=value pairs.
    func ask(_ backend: any Backend, _ script: String, bare: Bool = false) async throws -> [String: String] {
        keyValues(try await InstanceRun.run(backend, shell(script, bare: bare)).output)
    }
}
