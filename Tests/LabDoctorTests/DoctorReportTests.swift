import Foundation
import LabModel
import Testing

@testable import LabContainer
@testable import LabCore
@testable import LabDoctor
@testable import LabVirt

/// A report as this machine would give it: hybrid cgroups, KVM present but hanging, TCG fine.
func sampleReport(kvmUsable: Bool = false, libvirtReachable: Bool = true, root: Bool = true) -> DoctorReport {
    let controllers = CgroupLayout.labControllers.map {
        ControllerStatus(
            placement: CgroupPlacement(controller: $0, hierarchy: .v1, mountPoint: "/sys/fs/cgroup/\($0)", controlFile: "x"),
            usable: true, detail: "v1 at /sys/fs/cgroup/\($0)")
    }
    var report = DoctorReport(
        schemaVersion: DoctorReport.currentSchemaVersion, labVersion: LabVersion.current, generatedAt: "2026-11-28T00:00:00Z",
        host: HostInfo(kernelRelease: "6.18.44", architecture: "x86_64", cpuModel: "cpu", cpuCount: 2,
                       memoryTotalKiB: 24_000_000, euid: root ? 0 : 1000),
        capabilities: ["cap_sys_admin"],
        namespaces: NamespaceKind.allCases.map { .init(kind: $0, usable: true, error: nil) },
        cgroups: .init(mode: .hybrid, unifiedMount: "/sys/fs/cgroup/unified", controllers: controllers, error: nil),
        libvirt: .init(uri: "qemu:///system", libraryVersion: "9.0.0", reachable: libvirtReachable,
                       daemonVersion: libvirtReachable ? "9.0.0" : nil, qemuVersion: libvirtReachable ? "7.2.22" : nil,
                       error: libvirtReachable ? nil : "libvirt: connect to qemu:///system: no socket"),
        accelerators: .init(
            kvmDevice: KVMDeviceStatus(present: true, apiVersion: 12, canCreateVM: true, group: "kvm", mode: "0660", detail: "API 12, KVM_CREATE_VM ok"),
            verdicts: [
                AcceleratorVerdict(accelerator: .tcg, usable: true, detail: "guest reached user space in 4.4 s", seconds: 4.4, probedAt: "t"),
                AcceleratorVerdict(accelerator: .kvm, usable: kvmUsable,
                                   detail: kvmUsable ? "guest reached user space in 0.3 s" : "guest did not reach user space in 20 s",
                                   seconds: kvmUsable ? 0.3 : 20, probedAt: "t"),
            ],
            cached: false, cacheKey: nil, error: nil),
        guestKernel: GuestKernel(path: "/var/lib/isolab/kernels/vmlinuz-6.1.0", version: "6.1.0", sizeBytes: 14_000_000),
        guestKernelError: nil,
        peers: [.init(name: "runc", path: nil, version: nil)],
        canRunContainers: false, canRunVMs: false, checks: [])
    report.deriveVerdicts()
    return report
}

@Suite("doctor report")
struct DoctorReportTests {
    @Test func jsonHasTheDocumentedTopLevelKeys() throws {
        let data = try JSONEncoder().encode(sampleReport())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let expected: Set<String> = [
            "schemaVersion", "labVersion", "generatedAt", "host", "capabilities", "namespaces", "cgroups", "libvirt",
            "accelerators", "guestKernel", "peers", "canRunContainers", "canRunVMs", "checks",
        ]
        #expect(expected.isSubset(of: Set(object.keys)))
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.allSatisfy { $0["id"] is String && $0["found"] is String && $0["usable"] is Bool && $0["required"] is Bool })
        let cgroups = try #require(object["cgroups"] as? [String: Any])
        #expect(cgroups["mode"] as? String == "hybrid")
    }

    @Test func decodesWhatItEncodes() throws {
        let report = sampleReport()
        let decoded = try JSONDecoder().decode(DoctorReport.self, from: try JSONEncoder().encode(report))
        #expect(decoded.checks == report.checks)
        #expect(decoded.accelerators == report.accelerators)
    }

    @Test func kvmThatHangsIsReportedPresentButUnusableAndTCGCarriesTheVMs() throws {
        let report = sampleReport()
        let kvm = try #require(report.checks.first { $0.id == "accel.kvm" })
        #expect(kvm.found == "KVM present but unusable (guest did not reach user space in 20 s)")
        #expect(!kvm.usable && !kvm.required && kvm.fix != nil)
        #expect(report.canRunVMs && report.canRunContainers && report.exitStatus == 0)
        #expect(report.renderTable().contains("accelerator TCG"))
    }

    @Test func unreachableLibvirtFailsWithAFix() throws {
        let report = sampleReport(libvirtReachable: false)
        let daemon = try #require(report.checks.first { $0.id == "libvirt.daemon" })
        #expect(!daemon.usable)
        #expect(daemon.fix?.contains("libvirtd") == true)
        #expect(!report.canRunVMs && report.exitStatus == 1)
        #expect(report.renderTable().contains("FAIL  libvirt.daemon"))
    }

    @Test func nonRootCannotRunContainers() {
        let report = sampleReport(root: false)
        #expect(!report.canRunContainers && report.exitStatus == 1)
    }

    @Test func optionalItemsDoNotFailTheVerdict() {
        let report = sampleReport()
        let optional = report.checks.filter { !$0.required && !$0.usable }.map(\.id)
        #expect(optional.contains("peer.runc"))
        #expect(report.exitStatus == 0)
    }

    @Test func everyCheckIdIsUnique() {
        let ids = sampleReport().checks.map(\.id)
        #expect(Set(ids).count == ids.count)
    }
}
