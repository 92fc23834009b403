import Foundation
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// The files a dynamic executable needs to run in an image: itself, its
/// interpreter (the dynamic loader) and every shared library it needs,
/// transitively. Resolved by reading ELF headers and following the loader's
/// search order (DT_RPATH when there is no DT_RUNPATH, DT_RUNPATH, the
/// directories of /etc/ld.so.conf, then the default directories). Nothing is
/// executed: `ldd` may run the program it inspects, and an image may name
/// binaries the lab must not trust.
public struct LibraryClosure: Sendable {
    /// An image path and the host file whose bytes go there.
    public struct File: Sendable, Equatable {
        public var imagePath: String
        public var hostPath: String
    }

    public var searchDirectories: [String]

    public static let defaultDirectories = [
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    ]

    /// The host's search directories: ld.so.conf's, then the defaults.
    public static func host(ldSoConf: String = "/etc/ld.so.conf") -> LibraryClosure {
        var seen = Set<String>()
        let directories = (readConf(ldSoConf, depth: 0) + defaultDirectories).filter { seen.insert($0).inserted }
        return LibraryClosure(searchDirectories: directories)
    }

    public init(searchDirectories: [String]) {
        self.searchDirectories = searchDirectories
    }

    /// `executable` and everything it needs to start.
    public func resolve(_ executable: String) throws -> [File] {
        guard FileSystem.exists(executable) else {
            throw LabError(.invalidInput, "binary \(executable) not found on the host")
        }
        let root = try ElfFile(path: executable)
        var files = [File(imagePath: executable, hostPath: try realPath(executable))]
        if let interpreter = root.interpreter {
            guard FileSystem.exists(interpreter) else {
                throw LabError(.invalidInput, "\(executable) needs the loader \(interpreter), which is not on the host")
            }
            files.append(File(imagePath: interpreter, hostPath: try realPath(interpreter)))
        }
        var queue: [(ElfFile, String)] = [(root, executable)]
        var found: [String: String] = [:]
        while !queue.isEmpty {
            let (elf, elfPath) = queue.removeFirst()
            for name in elf.needed where found[name] == nil {
                let path = try locate(name, for: elf, at: elfPath, machine: root.machine)
                found[name] = path
                files.append(File(imagePath: path, hostPath: try realPath(path)))
                queue.append((try ElfFile(path: path), path))
            }
        }
        var seen = Set<String>()
        return files.filter { seen.insert($0.imagePath).inserted }
    }

    func locate(_ name: String, for elf: ElfFile, at path: String, machine: UInt16) throws -> String {
        if name.contains("/") {
            guard FileSystem.exists(name) else { throw LabError(.invalidInput, "\(path) needs \(name), not found") }
            return name
        }
        let origin = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        func expand(_ directory: String) -> String {
            directory.replacingOccurrences(of: "${ORIGIN}", with: origin).replacingOccurrences(of: "$ORIGIN", with: origin)
        }
        let directories = (elf.runpath.isEmpty ? elf.rpath.map(expand) : []) + elf.runpath.map(expand) + searchDirectories
        for directory in directories {
            let candidate = directory + "/" + name
            // The loader skips libraries of another machine (a 32-bit libc on a multilib host).
            if FileSystem.exists(candidate), let library = try? ElfFile(path: candidate), library.machine == machine {
                return candidate
            }
        }
        throw LabError(.invalidInput, "\(path) needs \(name), which is in none of \(directories.joined(separator: ":"))")
    }

    func realPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw LabError.syscall("resolve \(path)") }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// ld.so.conf's directories, following `include` globs (a few levels deep at most).
    static func readConf(_ path: String, depth: Int) -> [String] {
        guard depth < 4, let text = FileSystem.readTextIfPresent(path) else { return [] }
        var directories: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingWhitespace() } ?? ""
            if line.isEmpty { continue }
            if line.hasPrefix("include ") {
                let pattern = String(line.dropFirst("include ".count)).trimmingWhitespace()
                for file in glob(pattern.hasPrefix("/") ? pattern : "/etc/" + pattern) {
                    directories += readConf(file, depth: depth + 1)
                }
            } else if line.hasPrefix("/") {
                directories.append(line)
            }
        }
        return directories
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
