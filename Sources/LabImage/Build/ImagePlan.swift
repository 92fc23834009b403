import LabCore
import LabModel

/// The files of an image before they are written: one entry per path, with
/// where it came from (for errors) and its content.
struct ImagePlan {
    enum Content: Equatable {
        case host(String)
        case bytes([UInt8])
    }

    enum Kind: Equatable {
        case directory
        case file(Content)
        case symlink(String)

        var name: String {
            switch self {
            case .directory: "directory"
            case .file: "file"
            case .symlink: "symlink"
            }
        }
    }

    struct Entry {
        /// Relative to the image root, no leading slash.
        var path: String
        var kind: Kind
        var mode: UInt32
        /// `base busybox`, `agent`, `binaries[0]`, `files[2]`.
        var origin: String
        /// Entries from the definition's own lists, which may not repeat a path.
        var fromUser: Bool
        /// The owner a host file had, kept in the image (0, 0: root).
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private(set) var entries: [String: Entry] = [:]

    /// Normalises an image path: absolute in definitions, stored relative;
    /// `..` or an empty path is refused.
    static func normalize(_ path: String, origin: String) throws -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.isEmpty else { throw LabError(.invalidInput, "\(origin): path '\(path)' names the image root") }
        guard !parts.contains("..") else {
            throw LabError(.invalidInput, "\(origin): path '\(path)' escapes the image root ('..' is not allowed)")
        }
        guard !path.utf8.contains(0) else { throw LabError(.invalidInput, "\(origin): path contains a NUL byte") }
        return parts.joined(separator: "/")
    }

    /// Adds an entry and the directories above it. A user entry may replace a
    /// base or agent entry of the same kind; two user entries may not share a path.
    mutating func add(_ path: String, _ kind: Kind, mode: UInt32, origin: String, fromUser: Bool = false, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let relative = try Self.normalize(path, origin: origin)
        let parts = relative.split(separator: "/")
        for depth in 1..<parts.count {
            let parent = parts[0..<depth].joined(separator: "/")
            if let existing = entries[parent] {
                guard existing.kind == .directory else {
                    throw LabError(.invalidInput, "\(origin): /\(relative) goes through /\(parent), a \(existing.kind.name) from \(existing.origin)")
                }
            } else {
                entries[parent] = Entry(path: parent, kind: .directory, mode: 0o755, origin: origin, fromUser: false)
            }
        }
        if let existing = entries[relative] {
            if existing.fromUser && fromUser {
                throw LabError(.invalidInput, "\(origin): duplicate path /\(relative), also given by \(existing.origin)")
            }
            if existing.kind == .directory {
                // A directory stays; a user's directory entry may change its mode.
                if kind == .directory && !fromUser { return }
                if kind != .directory && entries.keys.contains(where: { $0.hasPrefix(relative + "/") }) {
                    throw LabError(.invalidInput, "\(origin): /\(relative) is a directory with contents (from \(existing.origin))")
                }
            }
        }
        entries[relative] = Entry(path: relative, kind: kind, mode: mode, origin: origin, fromUser: fromUser, uid: uid, gid: gid)
    }

    /// Checks every symlink: a relative target must stay inside the image,
    /// an absolute one must name a path the image holds (the host would
    /// otherwise resolve it to its own files).
    func validateLinks() throws {
        for entry in entries.values {
            guard case .symlink(let target) = entry.kind else { continue }
            if target.hasPrefix("/") {
                let resolved = try? Self.normalize(target, origin: entry.origin)
                guard let resolved, entries[resolved] != nil else {
                    throw LabError(.invalidInput,
                                   "\(entry.origin): symlink /\(entry.path) -> \(target) points outside the image; use a target the image holds")
                }
            } else {
                var stack = entry.path.split(separator: "/").dropLast().map(String.init)
                for part in target.split(separator: "/") where part != "." {
                    if part == ".." {
                        guard !stack.isEmpty else {
                            throw LabError(.invalidInput, "\(entry.origin): symlink /\(entry.path) -> \(target) escapes the image root")
                        }
                        stack.removeLast()
                    } else {
                        stack.append(String(part))
                    }
                }
            }
        }
    }

    /// Entries in path order: every directory before what it holds.
    /// Byte order, so that the archive is the same whatever the locale or Unicode rules.
    var sorted: [Entry] { entries.values.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) } }
}
