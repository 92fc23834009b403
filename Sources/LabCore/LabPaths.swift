#if canImport(Glibc)
import Glibc
import LabModel
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the lab keeps its state. Nothing else on the host is written outside
/// it, `reports/` and what `scripts/setup-host` installs.
public struct LabPaths: Sendable {
    /// `$ISOLAB_HOME`, default `/var/lib/isolab`.
    public var stateDirectory: String

    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    /// The state directory from the environment.
    public static func fromEnvironment() -> LabPaths {
        if let home = getenv("ISOLAB_HOME"), home.pointee != 0 {
            return LabPaths(stateDirectory: String(cString: home))
        }
        return LabPaths(stateDirectory: "/var/lib/isolab")
    }

    /// Guest kernels extracted by `scripts/setup-host`.
    public var kernels: String { stateDirectory + "/kernels" }
    /// Cached verdicts (the KVM probe) and other derived facts.
    public var cache: String { stateDirectory + "/cache" }
    /// Scratch space for instances; each instance removes its own.
    public var run: String { stateDirectory + "/run" }
}

/// The lab's directories in `$ISOLAB_HOME`, each with the mode and group it
/// is made with, stated here once. The state directory is the gate (0710,
/// group QEMU's: nobody else enters); below it, the directories QEMU's user
/// must pass through to the files it opens (kernels, initramfs images, disks,
/// each guest's console socket) let it, and the rest are the lab's alone.
public enum LabDirectory: String, CaseIterable, Sendable {
    case kernels, cache, initrdCache, debianCache, run, vms, containers, volumes, peers, images, imageTags, imageInputs
    /// OCI images: blobs by digest, layers unpacked once (by ChainID), their
    /// short names for overlay options, and imports under way.
    case imageBlobs, imageLayers, imageLinks, imageTemp

    /// Its path below the state directory.
    public var relativePath: String {
        switch self {
        case .kernels: "kernels"
        case .cache: "cache"
        case .initrdCache: "cache/initrd"
        case .debianCache: "cache/debian"
        case .run: "run"
        case .vms: "run/vms"
        case .containers: "run/containers"
        case .volumes: "run/volumes"
        case .peers: "run/peers"
        case .images: "images"
        case .imageTags: "images/tags"
        case .imageInputs: "images/inputs"
        case .imageBlobs: "images/blobs"
        case .imageLayers: "images/layers"
        case .imageLinks: "images/l"
        case .imageTemp: "images/tmp"
        }
    }

    /// The directory it is made in (nil: the state directory itself).
    public var parent: LabDirectory? {
        switch self {
        case .initrdCache, .debianCache: .cache
        case .imageTags, .imageInputs, .imageBlobs, .imageLayers, .imageLinks, .imageTemp: .images
        case .vms, .containers, .volumes, .peers: .run
        default: nil
        }
    }

    /// The mode it is made with. 0755 below the gate where QEMU (or the
    /// root of a `--userns` container) reads or passes, 0710 with QEMU's
    /// group where only QEMU passes, 0700 where only the lab goes.
    public var mode: mode_t {
        switch self {
        case .kernels, .cache, .initrdCache, .images, .run, .containers: 0o755
        case .debianCache, .imageTags, .imageInputs, .imageLayers, .imageLinks: 0o755
        case .imageBlobs, .imageTemp: 0o700
        case .vms: 0o710
        case .volumes, .peers: 0o700
        }
    }

    /// Group QEMU's (when the host has QEMU's user), so that it passes by
    /// its group and nobody else does.
    public var qemuGroup: Bool { self == .vms }

    /// Whether QEMU's user must pass through it to reach what it opens:
    /// the directories `isolab doctor` checks and a state-writing command
    /// repairs.
    public var qemuPasses: Bool {
        switch self {
        case .kernels, .cache, .initrdCache, .run, .vms, .images: true
        case .containers, .volumes, .peers, .debianCache, .imageTags, .imageInputs, .imageBlobs, .imageLayers, .imageLinks, .imageTemp: false
        }
    }
}

extension LabPaths {
    public func path(_ directory: LabDirectory) -> String { stateDirectory + "/" + directory.relativePath }

    /// Makes `directory` (and its parents in the tree) where missing, each
    /// with the mode and group stated in `LabDirectory`; returns its path.
    /// Directories that exist are left as they are (a state-writing command
    /// repairs them once: `secureStateDirectory`).
    @discardableResult
    public func ensure(_ directory: LabDirectory) throws -> String {
        let path = path(directory)
        // The common case, one stat: it exists.
        if FileSystem.isDirectory(path) { return path }
        if let parent = directory.parent { try ensure(parent) } else if !FileSystem.isDirectory(stateDirectory) {
            try secureStateDirectory()
        }
        if try FileSystem.makeDirectory(path, mode: directory.mode), directory.qemuGroup, geteuid() == 0, let qemu = QEMUUser.lookup() {
            guard chown(path, 0, qemu.gid) == 0 else { throw LabError.syscall("chown \(path) to group \(qemu.name)") }
        }
        return path
    }
}
