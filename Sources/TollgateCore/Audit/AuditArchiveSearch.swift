import Foundation

/// The archived events of given flows. Audit retention moves events past its window into archive files
/// (`AuditArchiveRecord`) and deletes them from the store, so a flow looked at after that (a dispute weeks later, a
/// settlement the reconciler resolved days after its first steps) has its steps, or its first ones, only there.
/// Support reads them back (`tollgate trace`, `dispute open`, `dispute evidence`) with one pass over every recorded file
/// for all the flows asked: a line is decoded only when its correlation id is one of them.
public enum AuditArchiveSearch {
    /// What the archives hold of the flows asked.
    public struct Found: Sendable {
        /// By correlation id, in seq order, each with its neighbours in the archived log (as an evidence bundle checks
        /// them): the hash of the line before it (the range's recorded `previousHash` for a file's first line), and the
        /// seq and `prevHash` of the line after it (for a file's last line, the seq after the range's recorded last and
        /// the range's recorded `lastHash`, which the next range or the live log continues from).
        public var events: [String: [EvidenceMaterial.LoggedEvent]] = [:]
        /// Recorded files that could not be read through (missing, unreadable, a line that is no event: what they hold
        /// past that point is not shown) or that changed since they were archived (their SHA-256: what was read is
        /// shown), with the problem.
        public var problems: [String] = []

        public init() {}
    }

    /// Scans the files of `archives` in `directory` for the events of `correlationIds`, on a worker thread.
    public static func events(of correlationIds: Set<String>, archives: [AuditArchiveRecord], directory: String) async -> Found {
        guard !correlationIds.isEmpty, !archives.isEmpty else { return Found() }
        return await BlockingIO.run { scan(correlationIds, archives: archives, directory: directory) }
    }

    static func scan(_ correlationIds: Set<String>, archives: [AuditArchiveRecord], directory: String) -> Found {
        var found = Found()
        let wanted = Set(correlationIds.map { Array($0.utf8) })
        let problems = eachFile(of: archives, in: directory) { record, reader throws(TollgateError) in
            // A match waiting for the line after it.
            var waiting: EvidenceMaterial.LoggedEvent?
            var previous: ArraySlice<UInt8>?
            while let line = try reader.next() {
                defer { previous = line }
                if var matched = waiting {
                    let after = try decoded(line, reader.lineNumber)
                    matched.following = .init(seq: after.seq, previousHash: after.previousHash)
                    found.events[matched.record.event.correlationId, default: []].append(matched)
                    waiting = nil
                }
                guard let id = correlationId(in: line), wanted.contains(Array(id)) else { continue }
                let recorded = try decoded(line, reader.lineNumber)
                guard correlationIds.contains(recorded.event.correlationId) else { continue }
                let preceding = previous.flatMap(hash(in:)).map { String(decoding: $0, as: UTF8.self) } ?? record.previousHash
                waiting = EvidenceMaterial.LoggedEvent(record: recorded, precedingHash: preceding)
            }
            if var matched = waiting {
                // The range's own end, as recorded: what the next range (or the live log) continues from. A line cut
                // off the end of the file shows.
                matched.following = .init(seq: record.lastSeq &+ 1, previousHash: record.lastHash)
                found.events[matched.record.event.correlationId, default: []].append(matched)
            }
            // What was read is shown either way; a file changed since it was archived is said to be.
            try checkUnchanged(&reader, record, "its events are shown as read; tollgate audit verify --archives checks them")
        }
        found.problems = problems
        for id in found.events.keys { found.events[id]?.sort { $0.record.seq < $1.record.seq } }
        return found
    }

    /// Reads every recorded file of `archives` in `directory` (`read` goes through one file's lines); a file that cannot
    /// be opened, or that `read` stops at, is a problem named with its path.
    private static func eachFile(of archives: [AuditArchiveRecord], in directory: String,
                                 _ read: (AuditArchiveRecord, inout AuditArchiveReader) throws(TollgateError) -> Void) -> [String] {
        var problems: [String] = []
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        for record in archives {
            let path = folder.appendingPathComponent(record.file).path
            do throws(TollgateError) {
                var reader = try AuditArchiveReader(path: path)
                defer { reader.close() }
                try read(record, &reader)
            } catch {
                problems.append("\(path): \(error.message)")
            }
        }
        return problems
    }

    /// Throws when the file `reader` went through is not the one recorded when `record` was archived (its SHA-256).
    private static func checkUnchanged(_ reader: inout AuditArchiveReader, _ record: AuditArchiveRecord, _ consequence: String) throws(TollgateError) {
        guard reader.digest.finalize() != record.fileSHA256 else { return }
        throw TollgateError(.invalid, "its SHA-256 is not the one recorded when it was archived: the file was changed since (\(consequence))")
    }

    /// The flows whose archived events name `key` in their details, as the store's lookup reads its live events: a
    /// payer in `payer`, a transaction hash or a nonce in `transaction` or `nonce` (any letter case), by correlation id
    /// with the fields that matched. A correlation id key matches nothing here (`events(of:)` reads its flow).
    public static func flows(naming key: TraceKey, archives: [AuditArchiveRecord], directory: String) async
        -> (fields: [String: Set<String>], problems: [String]) {
        let fields: [String] = switch key {
        case .correlationId: []
        case .payer: ["payer"]
        case .hash: ["transaction", "nonce"]
        }
        assert(Set(fields).isSubset(of: namingFields))
        guard !fields.isEmpty, !archives.isEmpty else { return ([:], []) }
        let value = key.value
        return await BlockingIO.run { scan(naming: value, in: fields, archives: archives, directory: directory) }
    }

    static func scan(naming value: String, in fields: [String], archives: [AuditArchiveRecord], directory: String)
        -> (fields: [String: Set<String>], problems: [String]) {
        var found: [String: Set<String>] = [:]
        let needle = Array(value.utf8)
        let problems = eachFile(of: archives, in: directory) { record, reader throws(TollgateError) in
            while let line = try reader.next() {
                guard containsIgnoringCase(line, needle) else { continue }
                let event = try decoded(line, reader.lineNumber).event
                for field in fields where event.details[field]?.lowercased() == value {
                    found[event.correlationId, default: []].insert(field)
                }
            }
            // A file edited to take a flow's lines out would otherwise hide that flow from this search without a word.
            try checkUnchanged(&reader, record, "the flows found in it are shown; tollgate audit verify --archives checks them")
        }
        return (found, problems)
    }

    /// The detail fields a trace by payer, transaction or nonce reads (`flows(naming:)`), indexed for it.
    static let namingFields = ["payer", "transaction", "nonce"]

    /// What an archive's index records of one event: its correlation id and the payer, transaction and nonce its details
    /// name, in lowercase, as `tollgate trace` looks them up (`TraceKey.value`).
    public static func lookupKeys(of event: AuditEvent, into keys: inout Set<String>) {
        keys.insert(event.correlationId.lowercased())
        for field in namingFields {
            if let value = event.details[field], !value.isEmpty { keys.insert(value.lowercased()) }
        }
    }

    /// The lookup keys of every event in `record`'s file, for a range archived without an index (its file's SHA-256
    /// checked against the recorded one: a changed or unreadable file is not indexed, so it stays read for every lookup).
    public static func lookupKeys(ofArchive record: AuditArchiveRecord, directory: String) async throws(TollgateError) -> Set<String> {
        let result: Result<Set<String>, TollgateError> = await BlockingIO.run {
            var keys = Set<String>()
            let problems = eachFile(of: [record], in: directory) { record, reader throws(TollgateError) in
                while let line = try reader.next() { lookupKeys(of: try decoded(line, reader.lineNumber).event, into: &keys) }
                try checkUnchanged(&reader, record, "not indexed")
            }
            if let problem = problems.first { return .failure(TollgateError(.invalid, problem)) }
            return .success(keys)
        }
        return try result.get()
    }

    /// Whether `line` holds `needle` (lowercase ASCII), ignoring the letter case of the line's ASCII letters.
    static func containsIgnoringCase(_ line: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, line.count >= needle.count else { return false }
        var start = line.startIndex
        while start <= line.endIndex - needle.count {
            if line[start] | 0x20 == first, zip(line[start..<start + needle.count], needle).allSatisfy({ lowered($0) == $1 }) { return true }
            start += 1
        }
        return false
    }

    private static func lowered(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }

    private static func decoded(_ line: ArraySlice<UInt8>, _ number: Int) throws(TollgateError) -> RecordedAuditEvent {
        do throws(TollgateError) {
            return try AuditJSONL.decode(line)
        } catch {
            throw TollgateError(error.code, "line \(number): \(error.message)")
        }
    }

    private static let correlationField = Array(#""correlationId":""#.utf8)
    private static let hashField = Array(#","hash":""#.utf8)

    /// The value of a line's first `"correlationId":"…"` (the writer puts the event's own before its details, with no
    /// space; an id has no character JSON escapes). Only a line whose value is an id asked for is decoded, and its
    /// decoded correlation id is checked again.
    static func correlationId(in line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let start = firstIndex(of: correlationField, in: line) else { return nil }
        let value = start + correlationField.count
        guard let end = line[value...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return line[value..<end]
    }

    /// The value of a line's last `,"hash":"…"` (the writer's last field).
    static func hash(in line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var start = line.endIndex - hashField.count
        while start >= line.startIndex {
            if line[start..<start + hashField.count].elementsEqual(hashField) {
                let value = start + hashField.count
                guard let end = line[value...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return line[value..<end]
            }
            start -= 1
        }
        return nil
    }

    private static func firstIndex(of field: [UInt8], in line: ArraySlice<UInt8>) -> Int? {
        guard line.count >= field.count else { return nil }
        var start = line.startIndex
        while start <= line.endIndex - field.count {
            if line[start] == field[0], line[start..<start + field.count].elementsEqual(field) { return start }
            start += 1
        }
        return nil
    }
}

extension GatewayStore {
    /// The events of `correlationIds` in the store and, with `directory` (`audit.archive_dir`), in the archive files
    /// the store records, merged in seq order (an event both in the store and a file, mid-archiving, once); with how
    /// many came from the archive per flow, and the files that could not be read.
    public func events(correlationIds: Set<String>, archives directory: String?) async throws
        -> (events: [String: [RecordedAuditEvent]], archived: [String: Int], problems: [String]) {
        var events: [String: [RecordedAuditEvent]] = [:]
        for id in correlationIds { events[id] = try await self.events(correlationId: id) }
        guard let directory else { return (events, [:], []) }
        let found = await AuditArchiveSearch.events(of: correlationIds, archives: try await auditArchives(holding: correlationIds), directory: directory)
        var archived: [String: Int] = [:]
        for (id, old) in found.events {
            let merged = Self.merged(old.map(\.record), events[id] ?? [], seq: \.seq)
            archived[id] = merged.count - (events[id]?.count ?? 0)
            events[id] = merged
        }
        return (events, archived, found.problems)
    }

    /// The material of an evidence bundle with, given `directory` (`audit.archive_dir`), the flow's and its linked flows'
    /// archived events merged in (links followed from the merged events, one level): a flow disputed after retention
    /// moved its events still gets its bundle, its chain checked event by event against its neighbours in the archive.
    /// Nil when neither the store nor the archive has an event of it. Files that could not be read are returned.
    public func evidenceMaterial(correlationId: String, archives directory: String?) async throws -> (EvidenceMaterial?, problems: [String]) {
        guard let directory else { return (try await evidenceMaterial(correlationId: correlationId), []) }
        guard var material = try await evidenceMaterial(correlationId: correlationId, withoutEvents: true) else { return (nil, []) }
        let found = await AuditArchiveSearch.events(of: [correlationId], archives: try await auditArchives(holding: [correlationId]), directory: directory)
        material.events = Self.merged(found.events[correlationId] ?? [], material.events, seq: \.record.seq)
        guard !material.events.isEmpty else { return (nil, found.problems) }
        let links = FlowLink.links(in: material.events.map(\.record))
        let linkedIds = Set(links.map(\.correlationId))
        let linked = await AuditArchiveSearch.events(of: linkedIds, archives: try await auditArchives(holding: linkedIds), directory: directory)
        var flows: [EvidenceMaterial.LinkedFlow] = []
        for link in links {
            var live = material.linked.first { $0.link.correlationId == link.correlationId }?.events
            if live == nil { live = try await evidenceMaterial(correlationId: link.correlationId)?.events }
            flows.append(.init(link: link, events: Self.merged(linked.events[link.correlationId] ?? [], live ?? [], seq: \.record.seq)))
        }
        material.linked = flows
        var seen = Set<String>()
        return (material, (found.problems + linked.problems).filter { seen.insert($0).inserted })
    }

    /// Archived and live events of one flow in seq order, an event in both once (the store's).
    static func merged<Event>(_ archived: [Event], _ live: [Event], seq: KeyPath<Event, Int64>) -> [Event] {
        let seen = Set(live.map { $0[keyPath: seq] })
        return (archived.filter { !seen.contains($0[keyPath: seq]) } + live).sorted { $0[keyPath: seq] < $1[keyPath: seq] }
    }
}

/// What `AuditLogStore.indexAuditArchives` did with one range recorded without an index.
public struct ArchiveIndexing: Sendable {
    public var record: AuditArchiveRecord
    /// How many lookup keys were recorded for it, or why its file was not indexed (it stays read for every lookup).
    public var outcome: Result<Int, TollgateError>
}

extension AuditLogStore {
    /// Indexes every archived range recorded without an index (archived by a version before the index) from its file in
    /// `directory`, one range at a time: a file that is missing, unreadable or changed since it was archived is left
    /// unindexed and reported, the others are indexed. Throws when the store fails.
    public func indexAuditArchives(directory: String) async throws -> [ArchiveIndexing] {
        var done: [ArchiveIndexing] = []
        for record in try await auditArchives() where !record.indexed {
            let keys: Set<String>
            do throws(TollgateError) {
                keys = try await AuditArchiveSearch.lookupKeys(ofArchive: record, directory: directory)
            } catch {
                done.append(.init(record: record, outcome: .failure(error)))
                continue
            }
            try await indexAuditArchive(firstSeq: record.firstSeq, keys: keys)
            done.append(.init(record: record, outcome: .success(keys.count)))
        }
        return done
    }
}
