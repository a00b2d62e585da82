import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one archive file durably: lines go to a temporary file in the target directory, which is
/// flushed to disk and renamed into place only once complete, so a file named `audit-A-B.jsonl`
/// is never partial.
struct AuditArchiveWriter {
    let directory: URL
    let temporary: URL
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private(set) var digest = AuditJSONL.Digest()

    init(directory: String) throws(TollgateError) {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        temporary = self.directory.appendingPathComponent(".audit-\(UUID().uuidString).tmp")
        do {
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw TollgateError(.fileSystem, "cannot create \(temporary.path)")
            }
            handle = try FileHandle(forWritingTo: temporary)
        } catch let error as TollgateError {
            throw error
        } catch {
            throw TollgateError(.fileSystem, "cannot write in \(directory): \(error)")
        }
    }

    static func fileName(firstSeq: Int64, lastSeq: Int64) -> String { "audit-\(firstSeq)-\(lastSeq).jsonl" }

    /// Buffers the line; every MiB is written out on a worker thread (`BlockingIO`), never on the caller's.
    mutating func append(_ record: RecordedAuditEvent) async throws(TollgateError) {
        let line = AuditJSONL.line(record)
        digest.update(line)
        buffer.append(contentsOf: line)
        guard buffer.count >= 1 << 20 else { return }
        let (handle, pending, path) = (self.handle, buffer, temporary.path)
        try await Self.offLoop { () throws(TollgateError) in try Self.write(pending, to: handle, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// `commit(as:)` on a worker thread: it writes, syncs the file, renames it and syncs the directory.
    func commitOffLoop(as name: String) async throws(TollgateError) -> String {
        let writer = self
        return try await Self.offLoop { () throws(TollgateError) -> String in
            var finishing = writer
            return try finishing.commit(as: name)
        }
    }

    /// `BlockingIO.run` for work that throws only `TollgateError`.
    private static func offLoop<T: Sendable>(_ work: @escaping @Sendable () throws(TollgateError) -> T) async throws(TollgateError) -> T {
        do {
            return try await BlockingIO.run { try work() }
        } catch {
            throw error as? TollgateError ?? TollgateError(.fileSystem, "\(error)")
        }
    }

    /// Flushes, syncs and renames the file to `name`; returns its SHA-256 (hex).
    mutating func commit(as name: String) throws(TollgateError) -> String {
        try flush()
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw TollgateError(.fileSystem, "cannot sync \(temporary.path): \(error)")
        }
        let target = directory.appendingPathComponent(name)
        guard rename(temporary.path, target.path) == 0 else {
            throw TollgateError(.fileSystem, "cannot rename \(temporary.lastPathComponent) to \(name) (errno \(errno))")
        }
        // The rename itself must survive a crash before the events are deleted.
        let directoryDescriptor = open(directory.path, O_RDONLY)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            _ = close(directoryDescriptor)
        }
        return digest.finalize()
    }

    /// Gives up: the temporary file is removed.
    func discard() {
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }

    private mutating func flush() throws(TollgateError) {
        guard !buffer.isEmpty else { return }
        try Self.write(buffer, to: handle, path: temporary.path)
        buffer.removeAll(keepingCapacity: true)
    }

    private static func write(_ bytes: [UInt8], to handle: FileHandle, path: String) throws(TollgateError) {
        do {
            try handle.write(contentsOf: bytes)
        } catch {
            throw TollgateError(.fileSystem, "cannot write \(path): \(error)")
        }
    }
}

/// Reads a JSONL file line by line in bounded memory, hashing every byte read.
struct AuditArchiveReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private(set) var digest = AuditJSONL.Digest()
    /// 1-based number of the last line returned.
    private(set) var lineNumber = 0

    init(path: String) throws(TollgateError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TollgateError(.fileSystem, "cannot open \(path)") }
        self.handle = handle
    }

    /// The next non-empty line without its newline; nil at the end of the file.
    mutating func next() throws(TollgateError) -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[position..<newline]
                position = newline + 1
                lineNumber += 1
                if line.isEmpty { continue }
                return line
            }
            if atEnd {
                guard position < buffer.count else { return nil }
                let line = buffer[position...]
                position = buffer.count
                lineNumber += 1
                return line
            }
            try fill()
        }
    }

    mutating func close() { try? handle.close() }

    private mutating func fill() throws(TollgateError) {
        let chunk: Data?
        do {
            chunk = try handle.read(upToCount: 1 << 20)
        } catch {
            throw TollgateError(.fileSystem, "cannot read: \(error)")
        }
        buffer.removeFirst(position)
        position = 0
        guard let chunk, !chunk.isEmpty else {
            atEnd = true
            return
        }
        digest.update(chunk)
        buffer.append(contentsOf: chunk)
    }
}
