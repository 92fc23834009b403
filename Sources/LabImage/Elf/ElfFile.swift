import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// What the image builder needs from an ELF file, read from its headers
/// without running it: its interpreter (the dynamic loader), the libraries it
/// needs (DT_NEEDED) and where it says to look for them (DT_RPATH, DT_RUNPATH).
/// Only 64-bit little-endian ELF is read (the lab's guests are x86_64).
public struct ElfFile: Sendable, Equatable {
    public var path: String
    public var machine: UInt16
    public var interpreter: String?
    public var needed: [String]
    public var rpath: [String]
    public var runpath: [String]

    /// A static executable: no interpreter, no libraries.
    public var isStatic: Bool { interpreter == nil && needed.isEmpty }

    static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2, ptInterp: UInt32 = 3
    static let dtNeeded: Int64 = 1, dtStrtab: Int64 = 5, dtStrsz: Int64 = 10, dtRpath: Int64 = 15, dtRunpath: Int64 = 29

    /// Reads `path`'s headers. Throws naming the path when it is not a 64-bit ELF.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        func read(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard n == count else {
                throw LabError(.invalidInput, "\(path): truncated ELF (wanted \(count) bytes at \(offset))")
            }
            return bytes
        }
        var magic = [UInt8](repeating: 0, count: 4)
        guard pread(fd, &magic, 4, 0) == 4, magic == [0x7F, 0x45, 0x4C, 0x46] else {
            throw LabError(.invalidInput, "\(path) is not an ELF executable (scripts belong under files:)")
        }
        let header = try read(0, 64)
        guard header[0] == 0x7F, header[1] == UInt8(ascii: "E"), header[2] == UInt8(ascii: "L"), header[3] == UInt8(ascii: "F") else {
            throw LabError(.invalidInput, "\(path) is not an ELF executable (scripts belong under files:)")
        }
        guard header[4] == 2, header[5] == 1 else {
            throw LabError(.invalidInput, "\(path) is not a 64-bit little-endian ELF file")
        }
        machine = Self.u16(header, 18)
        let phoff = Self.u64(header, 32)
        let phentsize = Int(Self.u16(header, 54))
        let phnum = Int(Self.u16(header, 56))
        guard phentsize >= 56, phnum < 4096 else { throw LabError(.invalidInput, "\(path): malformed ELF program headers") }
        let table = try read(phoff, phentsize * phnum)
        var loads: [(vaddr: UInt64, offset: UInt64, size: UInt64)] = []
        var dynamic: (offset: UInt64, size: UInt64)?
        var interpreter: String?
        for index in 0..<phnum {
            let base = index * phentsize
            let type = Self.u32(table, base)
            let offset = Self.u64(table, base + 8)
            let vaddr = Self.u64(table, base + 16)
            let filesz = Self.u64(table, base + 32)
            switch type {
            case Self.ptLoad: loads.append((vaddr, offset, filesz))
            case Self.ptDynamic: dynamic = (offset, filesz)
            case Self.ptInterp:
                guard filesz > 1, filesz < 4096 else { throw LabError(.invalidInput, "\(path): malformed PT_INTERP") }
                interpreter = String(decoding: try read(offset, Int(filesz)).prefix { $0 != 0 }, as: UTF8.self)
            default: break
            }
        }
        self.interpreter = interpreter
        var needed: [String] = [], rpath: [String] = [], runpath: [String] = []
        if let dynamic, dynamic.size > 0, dynamic.size < 1 << 20 {
            let entries = try read(dynamic.offset, Int(dynamic.size))
            var strtab: UInt64?, strsz: UInt64 = 0
            var wanted: [(tag: Int64, value: UInt64)] = []
            var at = 0
            while at + 16 <= entries.count {
                let tag = Int64(bitPattern: Self.u64(entries, at))
                let value = Self.u64(entries, at + 8)
                at += 16
                if tag == 0 { break }
                switch tag {
                case Self.dtStrtab: strtab = value
                case Self.dtStrsz: strsz = value
                case Self.dtNeeded, Self.dtRpath, Self.dtRunpath: wanted.append((tag, value))
                default: break
                }
            }
            if !wanted.isEmpty {
                // DT_STRTAB is an address: find the file offset through the PT_LOAD that holds it.
                guard let address = strtab, strsz > 0, strsz < 1 << 24,
                      let segment = loads.first(where: { address >= $0.vaddr && address < $0.vaddr + $0.size }) else {
                    throw LabError(.invalidInput, "\(path): malformed dynamic section (no string table)")
                }
                let strings = try read(address - segment.vaddr + segment.offset, Int(strsz))
                func string(_ offset: UInt64) throws -> String {
                    guard offset < UInt64(strings.count) else { throw LabError(.invalidInput, "\(path): string offset out of range") }
                    return String(decoding: strings[Int(offset)...].prefix { $0 != 0 }, as: UTF8.self)
                }
                for (tag, value) in wanted {
                    let text = try string(value)
                    switch tag {
                    case Self.dtNeeded: needed.append(text)
                    case Self.dtRpath: rpath += text.split(separator: ":").map(String.init)
                    default: runpath += text.split(separator: ":").map(String.init)
                    }
                }
            }
        }
        self.needed = needed
        self.rpath = rpath
        self.runpath = runpath
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
}
