import Foundation
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
@testable import LabVirt
import Testing

@Suite("Integration (root, this host): isolab doctor", .needsRoot)
struct DoctorIntegrationTests {
    @Test func doctorJSONReportsNamespacesAndCgroupsUsable() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["doctor", "--json"], timeout: 300)
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(output.stdout.utf8))
        for namespace in report.namespaces where namespace.kind != .user {
            #expect(namespace.usable, "\(namespace.kind): \(namespace.error ?? "")")
        }
        #expect(report.cgroups.mode != nil)
        #expect(report.cgroups.controllers.map(\.placement.controller) == CgroupLayout.labControllers)
        for controller in report.cgroups.controllers {
            #expect(controller.usable, "\(controller.placement.controller): \(controller.detail)")
        }
        #expect(report.canRunContainers)
        #expect(report.libvirt.reachable, "\(report.libvirt.error ?? "")")
        #expect(report.verdict(.tcg)?.usable == true)
        // This host's KVM opens but its guests hang: doctor must not call it usable
        // unless a guest really booted with it.
        if let kvm = report.verdict(.kvm), kvm.usable {
            #expect(kvm.detail.contains("reached user space"))
        }
        #expect(output.status == report.exitStatus)
        let probes = leftoverCgroups().filter { $0.contains("/doctor-") }
        #expect(probes.isEmpty, "doctor left cgroups behind: \(probes)")
    }

    @Test func doctorTableHasOneRowPerCheck() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["doctor"], timeout: 300)
        for id in ["host.kernel", "namespace.pid", "cgroup.mode", "cgroup.memory", "libvirt.daemon", "accel.tcg", "accel.kvm", "guest.kernel"] {
            #expect(output.stdout.contains(id), "missing row \(id)")
        }
    }

    @Test func unreachableLibvirtURIIsReportedWithAFix() throws {
        let output = try HostCommand.run(
            try isolabExecutable(), ["doctor", "--json", "--libvirt-uri", "qemu+unix:///system?socket=/nonexistent/sock"], timeout: 300)
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(output.stdout.utf8))
        #expect(!report.libvirt.reachable)
        #expect(report.libvirt.error?.contains("setup-host") == true)
        #expect(output.status == 1)
    }

    /// Usage errors are bad input like the lab's own: one line, exit 2, and
    /// the help to read.
    @Test func unknownSubcommandFlagOrMissingArgumentIsOneLineExitTwo() throws {
        let bogus = try HostCommand.run(try isolabExecutable(), ["bogus"])
        #expect(bogus.status == 2)
        #expect(bogus.stderr == "isolab: Unexpected argument 'bogus'; see 'isolab --help'\n")
        let flag = try HostCommand.run(try isolabExecutable(), ["doctor", "--no-such-flag"])
        #expect(flag.status == 2)
        #expect(flag.stderr == "isolab: Unknown option '--no-such-flag'; see 'isolab doctor --help'\n")
        let missing = try HostCommand.run(try isolabExecutable(), ["container", "run", "--memory"])
        #expect(missing.status == 2 && missing.stderr.hasPrefix("isolab: ") && missing.stderr.hasSuffix("see 'isolab container run --help'\n"), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1)
        let help = try HostCommand.run(try isolabExecutable(), ["demo", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: isolab demo"))
        // The commands that pass a command line through still have a help of their
        // own; after `--`, `--help` is the contained command's.
        for (words, usage) in [(["container", "run", "--help"], "USAGE: isolab container run"), (["vm", "run", "-h"], "USAGE: isolab vm run")] {
            let asked = try HostCommand.run(try isolabExecutable(), words)
            #expect(asked.status == 0 && asked.stdout.contains(usage), "\(words): \(asked.stderr)")
        }
        let passed = try HostCommand.run(try isolabExecutable(), ["container", "run", "--", "--help"])
        #expect(passed.status == 2 && passed.stderr.contains("command --help is not in the image's PATH"), "\(passed.stderr)")
        let timeout = try HostCommand.run(try isolabExecutable(), ["doctor", "--kvm-timeout", "0"])
        #expect(timeout.status == 2)
        #expect(timeout.stderr == "isolab: --kvm-timeout must be between 0 and 600 seconds, got 0.0\n")
    }
}

@Suite("Integration (root, this host): kernel interfaces", .needsRoot)
struct KernelInterfaceIntegrationTests {
    @Test(arguments: [NamespaceKind.pid, .mnt, .uts, .ipc, .net, .cgroup])
    func namespaceCanBeCreated(_ kind: NamespaceKind) throws {
        try kind.probe().get()
    }

    @Test func libcapReadsTheEffectiveSet() throws {
        let caps = try Capabilities.effective()
        #expect(caps.contains("cap_sys_admin"))
        #expect(caps.allSatisfy { $0.hasPrefix("cap_") })
    }

    @Test func hostCgroupControllersCanBeCreatedAndRemoved() throws {
        let layout = try CgroupLayout.detectHost()
        let statuses = layout.probeControllers(group: "test-\(getpid())")
        let unusable = statuses.filter { !$0.usable }.map(\.detail)
        #expect(unusable.isEmpty, "\(unusable)")
        #expect(!leftoverCgroups().contains { $0.hasSuffix("/test-\(getpid())") })
    }
}

@Suite("Integration (root, QEMU): accelerator probe", .needsRoot, .needsQEMU)
struct AcceleratorProbeIntegrationTests {
    /// The lab's cpio writer makes an initramfs the guest kernel boots to user space.
    @Test func tcgProbeGuestReachesUserSpace() throws {
        let paths = LabPaths.fromEnvironment()
        let kernel = try GuestKernel.find(paths: paths).get()
        let qemu = try #require(HostCommand.which("qemu-system-x86_64"))
        let verdict = try AcceleratorProbe(qemu: qemu, kernel: kernel, paths: paths).run(.tcg, timeout: 120)
        #expect(verdict.usable, "\(verdict.detail)")
        // Other tests' doctor runs may be probing at the same time: only this process's file counts.
        #expect(!FileSystem.exists(paths.run + "/accel-probe-\(getpid()).cpio"))
    }

    @Test func missingKernelIsAClearError() {
        guard case .failure(let error) = GuestKernel.at("/nonexistent/vmlinuz") else {
            Issue.record("expected failure")
            return
        }
        #expect(error.message.contains("setup-host"))
    }

    @Test func guestKernelVersionComesFromItsName() throws {
        let kernel = try GuestKernel.find(paths: .fromEnvironment()).get()
        #expect(kernel.version.contains("cloud"))
        #expect(GuestKernel.bzImageVersion(kernel.path)?.hasPrefix(kernel.version.split(separator: "-").first.map(String.init) ?? "x") == true)
    }
}
