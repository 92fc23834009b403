import Foundation
import LabContainer
import LabCore
import LabModel

/// What the checks of a run start their instances with: the image's
/// rootfs, the host's cgroup layout, the lab's state directory.
struct CheckContext: Sendable {
    var rootfs: String
    var layout: CgroupLayout
    var paths: LabPaths

    /// A container of the image with the default capabilities and these limits.
    func container(limits: CgroupLimits = CgroupLimits(), cpuAffinity: [Int]? = nil) throws -> ContainerBackend {
        var template = ContainerSpec(rootfs: rootfs, command: [], limits: limits, capabilities: try Capabilities.set(adding: [], dropping: []).mask)
        template.cpuAffinity = cpuAffinity
        return ContainerBackend(template: template, layout: layout, paths: paths)
    }

    /// The control: the same busybox applets as a plain host process, with
    /// the image's directories first on its PATH (no namespace, no cgroup).
    func bare() -> BareBackend {
        var backend = BareBackend(agent: rootfs + "/sbin/isolab-agent")
        backend.environment = ["PATH=\(rootfs)/bin:\(rootfs)/sbin:\(rootfs)/usr/bin:\(rootfs)/usr/sbin"]
        backend.paths = paths
        return backend
    }

    /// `sh -c SCRIPT`: the image's shell inside a container, the same
    /// shell by its host path for the bare control.
    func shell(_ script: String, bare: Bool = false, timeout: Double = 30) -> InstanceRequest {
        InstanceRequest(.command([bare ? rootfs + "/bin/sh" : "/bin/sh", "-c", script]), timeout: timeout, mergeStderr: true)
    }
}

/// `key=value` lines of a probe's output.
func keyValues(_ text: String) -> [String: String] {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1)
        guard let key = parts.first else { continue }
        values[String(key)] = parts.count == 2 ? String(parts[1]).trimmingWhitespace() : ""
    }
    return values
}

/// The last complete line of a counter file, as a number (-1 if none).
public func lastCount(_ path: String) -> Int {
    guard let text = FileSystem.readTextIfPresent(path), let end = text.lastIndex(of: "\n") else { return -1 }
    let complete = text[..<end]
    let start = complete.lastIndex(of: "\n").map { complete.index(after: $0) } ?? complete.startIndex
    return Int(complete[start...]) ?? -1
}

/// A value carried out of an instance's `during` closure.
final class Carried<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
