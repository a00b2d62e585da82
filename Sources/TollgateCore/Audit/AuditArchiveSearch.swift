import Foundation

/// The archived events of given flows. Audit retention moves events past its window into archive files
/// (`AuditArchiveRecord`) and deletes them from the store, so a flow looked at after that (a dispute weeks later, a
/// settlement the reconciler resolved days after its first steps) has its steps, or its first ones, only there.
/// Support reads them back (`tollgate trace`) with one pass over every recorded file for all the flows asked: a line is
/// decoded only when its correlation id is one of them.
public enum AuditArchiveSearch {
    /// What the archives hold of the flows asked.
    public struct Found: Sendable {
        /// By correlation id, in seq order.
        public var events: [String: [RecordedAuditEvent]] = [:]
        /// Recorded files that could not be read through (missing, unreadable, a line that is no event), with the
        /// problem: what they hold of the flows is not shown.
        public var problems: [String] = []

        public init() {}
    }

    /// Scans the files of `archives` in `directory` for the events of `correlationIds`, on a worker thread.
    public static func events(of correlationIds: Set<String>, archives: [AuditArchiveRecord], directory: String) async -> Found {
        guard !correlationIds.isEmpty, !archives.isEmpty else { return Found() }
        return (try? await BlockingIO.run { scan(correlationIds, archives: archives, directory: directory) }) ?? Found()
    }

    static func scan(_ correlationIds: Set<String>, archives: [AuditArchiveRecord], directory: String) -> Found {
        var found = Found()
        let wanted = Set(correlationIds.map { Array($0.utf8) })
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        for record in archives {
            let path = folder.appendingPathComponent(record.file).path
            do throws(TollgateError) {
                var reader = try AuditArchiveReader(path: path)
                defer { reader.close() }
                while let line = try reader.next() {
                    guard let id = correlationId(in: line), wanted.contains(Array(id)) else { continue }
                    let recorded: RecordedAuditEvent
                    do throws(TollgateError) {
                        recorded = try AuditJSONL.decode(line)
                    } catch {
                        throw TollgateError(error.code, "line \(reader.lineNumber): \(error.message)")
                    }
                    guard correlationIds.contains(recorded.event.correlationId) else { continue }
                    found.events[recorded.event.correlationId, default: []].append(recorded)
                }
            } catch {
                found.problems.append("\(path): \(error.message)")
            }
        }
        for id in found.events.keys { found.events[id]?.sort { $0.seq < $1.seq } }
        return found
    }

    private static let field = Array(#""correlationId":""#.utf8)

    /// The value of a line's first `"correlationId":"…"` (the writer puts the event's own before its details, with no
    /// space; an id has no character JSON escapes). A line it misreads is decoded and checked all the same.
    static func correlationId(in line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard line.count > field.count else { return nil }
        var start = line.startIndex
        let last = line.endIndex - field.count
        while start <= last {
            if line[start] == field[0], line[start..<start + field.count].elementsEqual(field) {
                let value = start + field.count
                guard let end = line[value...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return line[value..<end]
            }
            start += 1
        }
        return nil
    }
}

extension GatewayStore {
    /// The events of `correlationIds` in the store and, with `directory` (`audit.archive_dir`), in the archive files
    /// the store records, merged in seq order (an event both in the store and a file, mid-archiving, once).
    public func events(correlationIds: Set<String>, archives directory: String?) async throws
        -> (events: [String: [RecordedAuditEvent]], archived: [String: Int], problems: [String]) {
        var events: [String: [RecordedAuditEvent]] = [:]
        for id in correlationIds { events[id] = try await self.events(correlationId: id) }
        guard let directory else { return (events, [:], []) }
        let archives = try await auditArchives()
        let found = await AuditArchiveSearch.events(of: correlationIds, archives: archives, directory: directory)
        var archived: [String: Int] = [:]
        for (id, old) in found.events {
            let live = events[id] ?? []
            let seen = Set(live.map(\.seq))
            let added = old.filter { !seen.contains($0.seq) }
            archived[id] = added.count
            events[id] = (added + live).sorted { $0.seq < $1.seq }
        }
        return (events, archived, found.problems)
    }
}
