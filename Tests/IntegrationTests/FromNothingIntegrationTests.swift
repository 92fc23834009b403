import Foundation
import LabCore
import LabModel
import Testing

/// The README's promise, kept on a machine that is not new: every path a
/// new user takes, on a pristine `ISOLAB_HOME` (a new temporary directory,
/// mode 0700 as mkdtemp makes it, with only the guest kernel that
/// `scripts/setup-host` would extract, and for the whole-OS image the
/// Debian package cache). The state this machine has and a new one lacks
/// (a directory an older lab made, a cache) cannot hide a failure here.
@Suite("Integration (root, libvirt, TCG here): from nothing, on a pristine ISOLAB_HOME", .needsRoot, .needsLibvirt, .serialized)
struct FromNothingIntegrationTests {
    func mode(_ path: String) -> (mode: mode_t, gid: gid_t) {
        var st = stat()
        _ = stat(path, &st)
        return (st.st_mode & 0o7777, st.st_gid)
    }

    func scenario(_ home: TemporaryHome, backends: String, extra: String = "") throws -> String {
        let file = home.path + "-scenario.yaml"
        try FileSystem.writeAtomically(file, text: """
            name: from-nothing
            description: the main job's path on a pristine home
            image: busybox
            backends: [\(backends)]
            workloads: [{name: noop}]
            repetitions: 1
            warmup: 0
            \(extra)
            """)
        return file
    }

    /// Image build, one bare, one container and one VM trial to READY, the report.
    @Test func theMainJobRunsFromNothing() throws {
        let home = try TemporaryHome(kernels: true)
        let file = try scenario(home, backends: "bare, container, vm")
        defer { unlink(file) }
        let out = home.path + "/report"
        let run = try home.isolab(["run", file, "--out", out], timeout: 600)
        #expect(run.status == 0, "\(run.stderr.suffix(3000))")
        let results = try RunResults.load(file: out + "/results.json")
        #expect(results.trials.map(\.backend).sorted() == [.bare, .container, .vm])
        #expect(results.trials.allSatisfy { $0.error == nil && $0.ready != nil }, "\(results.trials.compactMap(\.error))")
        #expect(FileSystem.exists(out + "/report.html") && run.stdout.contains("VM in"))
        // The lab made its home QEMU's to pass and nobody else's, and said so.
        if let qemu = QEMUUser.lookup() {
            #expect(mode(home.path) == (0o710, qemu.gid))
            #expect(mode(home.path + "/run/vms") == (0o710, qemu.gid))
            // A new home is set up, not repaired: nothing to say about it.
            #expect(!run.stderr.contains("repaired"), "\(run.stderr.prefix(2000))")
        }
    }

    /// The tree an older lab left: `run/vms` made 0700 root:root (its
    /// directory helper gave every parent the leaf's mode). On that lab a
    /// guest failed with QEMU's `Permission denied` on its console socket;
    /// now the first state-writing command repairs it, says what it
    /// changed, and the guest boots.
    @Test func aTreeAnOlderLabLeftIsRepairedAndTheGuestBoots() throws {
        let home = try TemporaryHome(kernels: true)
        try FileSystem.makeDirectory(home.path + "/run", mode: 0o755)
        try FileSystem.makeDirectory(home.path + "/run/vms", mode: 0o700)
        let run = try home.isolab(["vm", "run", "--accel", "tcg", "--", "noop"], timeout: 300)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        #expect(run.stdout.contains("ISOLAB DONE exit=0"))
        #expect(run.stderr.contains("isolab: repaired \(home.path)/run/vms: mode 0700 root:root -> mode 0710"), "\(run.stderr)")
        // Once repaired, nothing more to say.
        let gc = try home.isolab(["gc"])
        #expect(gc.status == 0 && !gc.stdout.contains("repaired"), "\(gc.stdout)")
    }

    /// A home inside a private directory: no mode of the lab's can let QEMU
    /// in, and the lab does not change what it did not make. The doctor's
    /// row names the blocking directory; `vm run` stops before any guest
    /// with the doctor's message; the doctor passes once it is opened.
    @Test func aHomeQEMUCannotReachIsDiagnosedAndRefusedBeforeAnyGuest() throws {
        let outer = try TemporaryHome()
        try FileSystem.makeDirectory(outer.path + "/home", mode: 0o755)
        let home = outer.path + "/home"
        _ = try HostCommand.run("/bin/cp", ["-a", LabPaths.fromEnvironment().kernels, home + "/kernels"], timeout: 60)
        func doctorRow() throws -> [String: Any]? {
            let doctor = try HostCommand.run(try isolabExecutable(), ["doctor", "--json"], timeout: 300, environment: ["ISOLAB_HOME": home])
            let json = try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any]
            return (json?["checks"] as? [[String: Any]])?.first { $0["id"] as? String == "guest.qemu_access" }
        }
        let blocked = try #require(try doctorRow())
        #expect(blocked["usable"] as? Bool == false)
        #expect((blocked["found"] as? String ?? "").contains("blocked at \(outer.path) (mode 0700 root:root)"), "\(blocked)")
        #expect((blocked["fix"] as? String ?? "").contains("chmod o+x \(outer.path)"))

        let run = try HostCommand.run(try isolabExecutable(), ["vm", "run", "--", "noop"], timeout: 300, environment: ["ISOLAB_HOME": home])
        #expect(run.status == 1)
        #expect(run.stderr.contains("isolab: a guest cannot start: QEMU's user") && run.stderr.contains("blocked at \(outer.path)"), "\(run.stderr)")
        #expect(!run.stderr.contains("virDomainCreateXML"))
        #expect(FileSystem.list(home + "/run/vms").isEmpty)

        #expect(chmod(outer.path, 0o711) == 0)
        let open = try #require(try doctorRow())
        #expect(open["usable"] as? Bool == true, "\(open)")
    }

    @Test func theKernelDemoRunsFromNothing() throws {
        let home = try TemporaryHome(kernels: true)
        let demo = try home.isolab(["demo", "kernel"], timeout: 300)
        #expect(demo.status == 0, "\(demo.stdout.suffix(1500)) \(demo.stderr.suffix(1500))")
        #expect(demo.stdout.contains("PASS"))
    }

    /// The whole-OS image built in the new home (mmdebstrap from the copied
    /// package cache), booted as a VM to the agent's READY.
    @Test func aFullOSVMTrialRunsFromNothing() throws {
        let home = try TemporaryHome(kernels: true, debianCache: true)
        let file = try scenario(home, backends: "os-vm", extra: "os_image: debian\nvm: {accel: tcg, memory: 512M, boot_timeout: 300}")
        defer { unlink(file) }
        let out = home.path + "/report"
        let run = try home.isolab(["run", file, "--out", out], timeout: 900)
        #expect(run.status == 0, "\(run.stderr.suffix(3000))")
        let results = try RunResults.load(file: out + "/results.json")
        #expect(results.trials.count == 1 && results.trials.allSatisfy { $0.error == nil && $0.ready?["init"] == "systemd" },
                "\(results.trials.compactMap(\.error)) \(results.trials.map(\.ready))")
    }
}
