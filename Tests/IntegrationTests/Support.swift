import Foundation
import Testing
import LabCore
import LabImage
import LabModel

/// An executable of this package built beside the test bundle (`make test` builds them first).
func builtExecutable(_ name: String) throws -> String {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let candidates = [
        bundleDirectory + "/" + name,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/.build/debug/" + name,
    ]
    guard let found = candidates.first(where: { FileSystem.exists($0) }) else {
        throw LabError(.notFound, "\(name) executable not found in \(candidates); run swift build first")
    }
    return found
}

func isolabExecutable() throws -> String { try builtExecutable("isolab") }

/// Subdirectories of every `isolab` cgroup parent on this host: each is a leak.
func leftoverCgroups() -> [String] {
    var found: [String] = []
    for hierarchy in FileSystem.list("/sys/fs/cgroup") {
        for parent in ["/sys/fs/cgroup/\(hierarchy)/isolab", "/sys/fs/cgroup/isolab"] where FileSystem.isDirectory(parent) {
            found += FileSystem.list(parent).filter { FileSystem.isDirectory(parent + "/" + $0) }.map { parent + "/" + $0 }
        }
    }
    return found
}

/// A pristine `ISOLAB_HOME`: a new temporary directory (0700, as mkdtemp
/// makes it) with nothing in it, or only what `scripts/setup-host` would
/// put there (the guest kernel) and, to save a minute, the Debian package
/// cache, copied from the default home. Nothing else of another home.
final class TemporaryHome {
    let path: String
    init(kernels: Bool = false, debianCache: Bool = false) throws {
        var template = Array("/tmp/isolab-home-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        path = String(cString: dir)
        let source = LabPaths.fromEnvironment()
        if kernels { try copy(source.kernels, to: path + "/kernels") }
        if debianCache, FileSystem.isDirectory(source.path(.debianCache)) {
            try FileSystem.makeDirectory(path + "/cache", mode: 0o755)
            try copy(source.path(.debianCache), to: path + "/cache/debian")
        }
    }
    deinit { try? FileSystem.removeTree(path) }

    private func copy(_ from: String, to: String) throws {
        // No base systems of the other home: only the downloaded packages and lists.
        let output = try HostCommand.run("/bin/cp", ["-a", "--no-preserve=ownership", from, to], timeout: 300)
        guard output.status == 0 else { throw LabError(.failed, "cp -a \(from) \(to): \(output.stderr)") }
        for base in (try? HostCommand.run("/usr/bin/find", [to, "-maxdepth", "2", "-name", "base-*"], timeout: 60))?.stdout.split(separator: "\n") ?? [] {
            try FileSystem.removeTree(String(base))
        }
    }

    var paths: LabPaths { LabPaths(stateDirectory: path) }

    func builder() throws -> ImageBuilder {
        ImageBuilder(store: ImageStore(paths: paths), agentPath: try builtExecutable("isolab-agent"))
    }

    func isolab(_ arguments: [String], timeout: Double = 60) throws -> HostCommand.Output {
        try HostCommand.run(try isolabExecutable(), arguments, timeout: timeout, environment: ["ISOLAB_HOME": path])
    }
}

/// What an integration suite needs, named as a condition: elsewhere it
/// reports "skipped: needs …" instead of failing for a reason that is not
/// the lab's. `make test` sets ISOLAB_REQUIRE_ALL=1, which turns every
/// condition on: on this machine a missing need must fail, never skip.
enum Needs {
    static let requireAll = ProcessInfo.processInfo.environment["ISOLAB_REQUIRE_ALL"] == "1"
    static var isRoot: Bool { geteuid() == 0 }
    static var hasLibvirt: Bool { FileManager.default.fileExists(atPath: "/var/run/libvirt/libvirt-sock") }
    static var hasQEMU: Bool { HostCommand.which("qemu-system-x86_64") != nil }
    static var hasChromium: Bool { HeadlessBrowser.executable() != nil }
}

extension Needs {
    static func condition(_ met: Bool, _ comment: Comment) -> ConditionTrait { .enabled(if: requireAll || met, comment) }
    static var root: ConditionTrait { condition(isRoot, "needs root (namespaces, cgroups, mounts)") }
    static var libvirt: ConditionTrait { condition(hasLibvirt, "needs a running libvirtd (scripts/setup-host)") }
    static var qemu: ConditionTrait { condition(hasQEMU, "needs qemu-system-x86_64") }
    static var chromium: ConditionTrait { condition(hasChromium, "needs Chromium (scripts/setup-host --tests)") }
}

extension SuiteTrait where Self == ConditionTrait {
    static var needsRoot: Self { Needs.root }
    static var needsLibvirt: Self { Needs.libvirt }
    static var needsQEMU: Self { Needs.qemu }
}

extension TestTrait where Self == ConditionTrait {
    static var needsChromium: Self { Needs.chromium }
}
