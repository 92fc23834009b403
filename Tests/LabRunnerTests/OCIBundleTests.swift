import Foundation
import LabContainer
import LabCore
import LabModel
import Testing

@testable import LabRunner

/// The bundle runc and crun run: its keys are those `runc spec` writes (the
/// golden file is runc 1.1.5's own output) or those runc reads beyond them,
/// and the whole config is a golden file of its own.
@Suite("OCI bundles for the runc and crun peers")
struct OCIBundleTests {
    let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").path

    func bundle(seccomp: Seccomp.Profile = .default) -> OCIBundle {
        OCIBundle(rootfs: "/var/lib/isolab/images/abc/rootfs", arguments: ["/sbin/isolab-agent", "run", "noop"], hostname: "isolab-peer-0123456789ab",
                  limits: CgroupLimits(memoryBytes: 256 << 20, cpus: 0.5, cpuWeight: 200, pids: 64), capabilities: Capabilities.defaultNames,
                  seccomp: seccomp, cgroupsPath: "/isolab-peers/isolab-peer-0123456789ab")
    }

    /// Every key path of a JSON value: `linux.namespaces[].type`.
    func keyPaths(_ value: Any, _ prefix: String = "") -> Set<String> {
        if let object = value as? [String: Any] {
            return object.reduce(into: Set<String>()) { paths, entry in
                let path = prefix.isEmpty ? entry.key : prefix + "." + entry.key
                paths.insert(path)
                paths.formUnion(keyPaths(entry.value, path))
            }
        }
        if let array = value as? [Any] {
            return array.reduce(into: Set<String>()) { $0.formUnion(keyPaths($1, prefix + "[]")) }
        }
        return []
    }

    /// Keys runc reads (runtime-spec config-linux.md, runc's specconv) that `runc spec` does not write.
    static let readBeyondSpec: Set<String> = [
        "linux.cgroupsPath", "linux.resources.memory", "linux.resources.memory.limit", "linux.resources.memory.swap",
        "linux.resources.cpu", "linux.resources.cpu.quota", "linux.resources.cpu.period", "linux.resources.cpu.shares",
        "linux.resources.pids", "linux.resources.pids.limit",
        "linux.seccomp", "linux.seccomp.defaultAction", "linux.seccomp.architectures", "linux.seccomp.syscalls",
        "linux.seccomp.syscalls[].names", "linux.seccomp.syscalls[].action", "linux.seccomp.syscalls[].errnoRet",
        "linux.seccomp.syscalls[].args", "linux.seccomp.syscalls[].args[].index", "linux.seccomp.syscalls[].args[].value",
        "linux.seccomp.syscalls[].args[].valueTwo", "linux.seccomp.syscalls[].args[].op",
    ]

    @Test func everyKeyIsOneRuncReads() throws {
        let spec = try JSONSerialization.jsonObject(with: Data(try FileSystem.readBytes(golden + "/runc-spec.json")))
        let known = keyPaths(spec).union(Self.readBeyondSpec)
        let ours = keyPaths(bundle().config())
        #expect(ours.subtracting(known).isEmpty, "keys runc does not read: \(ours.subtracting(known).sorted())")
        // And the ones it needs: args, cwd, root.path, a /proc mount, a mount namespace.
        for required in ["process.args", "process.cwd", "root.path", "mounts[].destination", "linux.namespaces[].type"] {
            #expect(ours.contains(required))
        }
    }

    @Test func theConfigIsTheGoldenFile() throws {
        let text = String(decoding: try bundle().json(), as: UTF8.self)
        let path = golden + "/config.json"
        if ProcessInfo.processInfo.environment["ISOLAB_UPDATE_GOLDEN"] == "1" { try FileSystem.writeAtomically(path, text: text) }
        #expect(text == (try FileSystem.readText(path)))
    }

    @Test func theLabsLimitsAndProfileAreCarriedOver() throws {
        let config = bundle().config()
        let linux = try #require(config["linux"] as? [String: Any])
        let resources = try #require(linux["resources"] as? [String: Any])
        #expect((resources["memory"] as? [String: Any])?["limit"] as? UInt64 == 256 << 20)
        #expect((resources["cpu"] as? [String: Any])?["quota"] as? Int == 50000)
        #expect((resources["cpu"] as? [String: Any])?["shares"] as? Int == CgroupLimits.shares(fromWeight: 200))
        #expect((resources["pids"] as? [String: Any])?["limit"] as? Int == 64)
        let seccomp = try #require(linux["seccomp"] as? [String: Any])
        let rules = try #require(seccomp["syscalls"] as? [[String: Any]])
        #expect((rules.first?["names"] as? [String])?.contains("keyctl") == true)
        #expect(bundle(seccomp: .unconfined).config()["linux"].flatMap { ($0 as? [String: Any])?["seccomp"] } == nil)
        let namespaces = (linux["namespaces"] as? [[String: String]])?.compactMap { $0["type"] }
        #expect(Set(namespaces ?? []) == ["pid", "network", "ipc", "uts", "mount", "cgroup"])
    }
}
