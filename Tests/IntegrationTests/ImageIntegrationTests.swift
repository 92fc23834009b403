import Foundation
import LabWire
import LabCore
import LabModel
import Testing

@testable import LabImage
@testable import LabVirt

/// A state directory of its own for each test, removed afterwards.
@Suite("Integration (root, this host): images", .needsRoot)
struct ImageIntegrationTests {
    /// The library closure is complete: a dynamic /bin/ls runs chrooted into an image holding nothing else.
    @Test func lsRunsInAChrootOfItsClosure() throws {
        let home = try TemporaryHome()
        let record = try home.builder().build(ImageDefinition(name: "ls", base: .empty, agent: false, binaries: ["/bin/ls"])).record
        #expect(!record.manifest.files.contains { $0.path == "/bin/busybox" })
        let output = try HostCommand.run("/usr/sbin/chroot", [record.rootfs, "/bin/ls", "/"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.split(separator: "\n").contains("bin"))
        #expect(output.stdout.split(separator: "\n").contains("lib64"))
    }

    @Test func builtInImageRunsTheAgentInAChroot() throws {
        let home = try TemporaryHome()
        let record = try home.builder().build(.builtinBusybox).record
        let output = try HostCommand.run("/usr/sbin/chroot", [record.rootfs, "/sbin/isolab-agent", "run", "noop"])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = AgentLine.parseAll(output.stdout)
        guard case .ready = lines.first else {
            Issue.record("no READY: \(output.stdout)")
            return
        }
        #expect(lines.last == .done(exit: 0))
        let shell = try HostCommand.run("/usr/sbin/chroot", [record.rootfs, "/bin/sh", "-c", "echo $((6 * 7))"])
        #expect(shell.stdout == "42\n")
    }

    @Test func storeInitramfsBootsUnderQEMUAndPowersOff() throws {
        let home = try TemporaryHome()
        let record = try home.builder().build(.builtinBusybox).record
        let kernel = try GuestKernel.find(paths: .fromEnvironment()).get()
        let qemu = try #require(HostCommand.which("qemu-system-x86_64"))
        let output = try HostCommand.run(qemu, [
            "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-kernel", kernel.path,
            "-initrd", record.initramfs, "-append", "console=ttyS0 quiet isolab.run=noop",
        ], timeout: 180)
        #expect(!output.timedOut, "the guest did not power off")
        let lines = AgentLine.parseAll(output.stdout)
        #expect(lines.contains { if case .ready(let fields) = $0 { fields["role"] == "vm" } else { false } })
        #expect(lines.contains(.done(exit: 0)))
    }
}

@Suite("Integration (this host): isolab image commands")
struct ImageCommandIntegrationTests {
    @Test func buildListInspectRemove() throws {
        let home = try TemporaryHome()
        let build = try home.isolab(["image", "build", "--builtin", "busybox"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stdout.hasPrefix("built busybox "))
        let again = try home.isolab(["image", "build", "--builtin", "busybox"])
        #expect(again.stdout.hasPrefix("cached busybox "))
        let list = try home.isolab(["image", "ls"])
        #expect(list.stdout.split(separator: "\n").count == 2)
        #expect(list.stdout.contains("busybox") && list.stdout.contains("MiB"))
        let inspect = try home.isolab(["image", "inspect", "busybox"])
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(inspect.stdout.utf8))
        #expect(manifest.name == "busybox")
        let byDigest = try home.isolab(["image", "inspect", String(manifest.digestHex.prefix(8))])
        #expect(byDigest.stdout == inspect.stdout)
        let remove = try home.isolab(["image", "rm", "busybox"])
        #expect(remove.status == 0)
        #expect(try home.isolab(["image", "ls"]).stdout.split(separator: "\n").count == 1)
    }

    @Test func badInputIsOneLineExitTwoAndLeavesTheStoreUnchanged() throws {
        let home = try TemporaryHome()
        let file = home.path + "/bad.yaml"
        try FileSystem.writeAtomically(file, text: "name: bad\nbase: alpine\n")
        let before = FileSystem.list(home.path)
        let output = try home.isolab(["image", "build", file])
        #expect(output.status == 2)
        #expect(output.stderr == "isolab: \(file):2: base: unknown value 'alpine'; accepted: busybox, empty, debian\n")
        #expect(FileSystem.list(home.path) == before)

        try FileSystem.writeAtomically(file, text: "name: bad\nbinaries: [/nonexistent/x]\n")
        let missing = try home.isolab(["image", "build", file])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("binaries[0]: binary /nonexistent/x not found"))
        #expect(!FileSystem.exists(home.path + "/images/tags/bad"))

        let unknown = try home.isolab(["image", "inspect", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix("isolab: no image named 'nope'"))
        let neither = try home.isolab(["image", "build"])
        #expect(neither.status == 2)
        #expect(neither.stderr == "isolab: give either an image FILE or --builtin busybox|debian|busybox-oci|debian-oci|layered\n")
    }
}
