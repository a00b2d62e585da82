/// Walks the audit hash chain in seq order and explains every place where it does not hold.
///
/// A value-type state machine with no I/O: feed it events with `consume(_:source:)` in seq order, as
/// they are read (it keeps a bounded window, so millions of events stream through it), then call
/// `finish(sequenceValue:)`. Every finding names the event and what happened to it:
///
/// - `edited`: the stored hash is not the hash of the row's content and `prev_hash`.
/// - `deleted`: seq numbers are missing, or the row links to a hash that no remaining event carries
///   (the event before it was deleted, or replaced by one with a recomputed hash), or events were
///   deleted from the end (the highest seq ever assigned is above the last one present).
/// - `reordered`: the row is intact but linked to an event other than the one before it, and the one
///   after it does not link to it either: it was moved (two swapped rows are both reported; the rows
///   right after them, which still link to their true predecessor, are not).
public struct AuditVerifier: Sendable {
    /// Where the chain continues from: the seq and hash of the last event before the first one checked.
    public struct Anchor: Sendable, Hashable, Codable {
        public var seq: Int64
        public var hash: String
        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }

        /// The start of every chain: nothing before seq 1, previous hash 64 zeros.
        public static let genesis = Anchor(seq: 0, hash: AuditChain.genesis)
    }

    /// One place where the chain does not hold.
    public struct Finding: Sendable, Hashable, Codable, CustomStringConvertible {
        /// What happened to the event.
        public struct Kind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
            public let rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            public var description: String { rawValue }

            public static let edited = Kind(rawValue: "edited")
            public static let deleted = Kind(rawValue: "deleted")
            public static let reordered = Kind(rawValue: "reordered")
        }

        public var kind: Kind
        /// The event concerned (for a deleted tail: the first missing seq).
        public var seq: Int64
        /// The event's flow, when the event is there to say it.
        public var correlationId: String?
        /// Where the event was read: nil for the live table, else an archive file name.
        public var source: String?
        public var explanation: String

        public init(kind: Kind, seq: Int64, correlationId: String?, source: String? = nil, explanation: String) {
            self.kind = kind
            self.seq = seq
            self.correlationId = correlationId
            self.source = source
            self.explanation = explanation
        }

        /// `seq 1234 (tg_…): edited — stored hash … does not match its content`.
        public var description: String {
            let place = source.map { "\($0): " } ?? ""
            let flow = correlationId.map { " (\($0))" } ?? ""
            return "\(place)seq \(seq)\(flow): \(kind) — \(explanation)"
        }
    }

    /// The outcome of a walk.
    public struct Report: Sendable, Codable {
        /// Events checked.
        public var events: Int
        /// The chain's starting point.
        public var anchor: Anchor
        /// The first seq checked; nil when there was nothing to check.
        public var firstSeq: Int64?
        /// The last event checked (seq and stored hash), or the anchor when there was none: store it
        /// outside the database to detect a later rewrite of the whole chain.
        public var head: Anchor
        /// At most `maxFindings` of them, by seq.
        public var findings: [Finding]
        /// Findings beyond `maxFindings`, counted but not kept (memory stays bounded on a log tampered throughout).
        public var omittedFindings: Int
        /// The highest seq of an event whose hash is unkeyed (written without the audit key: before the chain was keyed,
        /// or by someone without the key), when any was checked.
        public var lastUnkeyedSeq: Int64?
        public var isIntact: Bool { findings.isEmpty && omittedFindings == 0 }
    }

    /// A row whose `prev_hash` is not its predecessor's hash, or that follows a gap; classified at the end.
    struct Anomaly: Sendable {
        var seq: Int64
        var correlationId: String
        var source: String?
        var previousHash: String
        var predecessor: Anchor
        var predecessorAnomaly: Int?
        var missing: ClosedRange<Int64>?
        var linksToPredecessor: Bool
        var linkedSeq: Int64?
        var linkedForward = false
        var nextBroken = false

        var moved: Bool { !linksToPredecessor && linkedSeq != nil && nextBroken }
    }

    public let anchor: Anchor
    private let window: Int
    private let maxAnomalies: Int
    private let maxFindings: Int
    private var predecessor: Anchor
    private var predecessorAnomaly: Int?
    private var recent: [String: Int64] = [:]
    private var recentOrder: [(hash: String, seq: Int64)] = []
    private var recentStart = 0
    private var anomalies: [Anomaly] = []
    private var anomalyBySeq: [Int64: Int] = [:]
    private var wanted: [String: [Int]] = [:]
    private var findings: [Finding] = []
    private var omittedFindings = 0
    private var count = 0
    private var firstSeq: Int64?
    private let keys: KeyRing?
    /// Set once a keyed link was seen, the anchor's included (the last archived event, whose hash the walk starts from):
    /// an unkeyed link after it is a downgrade by someone without the key.
    private var keyed: Bool
    private var lastUnkeyedSeq: Int64?

    /// - Parameters:
    ///   - anchor: the last archived event (seq, hash), or `.genesis` when nothing was archived.
    ///   - window: how many recent hashes are kept to recognise a row linked to an earlier event (moved
    ///     further back than this, a moved row is reported as `deleted`).
    ///   - maxAnomalies: broken links analysed together; beyond this, each is reported on its own.
    ///   - maxFindings: findings kept for the report; beyond this they are only counted (`omittedFindings`).
    ///   - keys: the audit keys, to check keyed links (`v2:`); without them a keyed row cannot be checked and is reported.
    public init(anchor: Anchor = .genesis, window: Int = 50_000, maxAnomalies: Int = 10_000, maxFindings: Int = 10_000, keys: KeyRing? = nil) {
        self.keys = keys
        self.anchor = anchor
        self.window = max(window, 1)
        self.maxAnomalies = maxAnomalies
        self.maxFindings = max(maxFindings, 1)
        predecessor = anchor
        keyed = anchor.hash.hasPrefix(AuditChain.keyedPrefix)
    }

    /// Checks the next event in seq order.
    public mutating func consume(_ record: RecordedAuditEvent, source: String? = nil) {
        count += 1
        if firstSeq == nil { firstSeq = record.seq }
        let expectedSeq = predecessor.seq &+ 1
        let isKeyed = record.hash.hasPrefix(AuditChain.keyedPrefix)
        let recomputed = AuditChain.expectedHash(of: record, keys: keys)
        var anomalyIndex: Int?
        if recomputed == nil {
            report(Finding(kind: .edited, seq: record.seq, correlationId: record.event.correlationId, source: source,
                           explanation: "its keyed hash names key \(record.hash.dropFirst(AuditChain.keyedPrefix.count).prefix { $0 != ":" }), "
                               + "which is not among the audit keys given: it cannot be checked (run with the gateway's secrets)"))
        } else if keyed && !isKeyed {
            report(Finding(kind: .edited, seq: record.seq, correlationId: record.event.correlationId, source: source,
                           explanation: "an unkeyed hash after the chain became keyed: written by someone without the audit key"))
        } else if let recomputed, !ConstantTime.equal(recomputed, record.hash) {
            let link = record.previousHash == predecessor.hash ? "" : "; its prev_hash does not link to seq \(predecessor.seq) either"
            // A keyed hash recomputed is the audit key's MAC of what whoever changed the row wrote: never shown.
            let recomputation = isKeyed ? "recomputed with the audit key" : "recomputed \(Self.short(recomputed))"
            report(Finding(kind: .edited, seq: record.seq, correlationId: record.event.correlationId, source: source,
                           explanation: "stored hash \(Self.short(record.hash)) does not match its content "
                               + "(\(recomputation)): the row was changed after it was written\(link)"))
            if record.seq != expectedSeq { reportGap(record, expectedSeq: expectedSeq, source: source) }
        } else if record.previousHash != predecessor.hash || record.seq != expectedSeq {
            if let index = predecessorAnomaly, record.previousHash != predecessor.hash { anomalies[index].nextBroken = true }
            anomalyIndex = recordAnomaly(record, expectedSeq: expectedSeq, source: source)
        }
        keyed = keyed || isKeyed
        if !isKeyed { lastUnkeyedSeq = record.seq }
        remember(record.hash, seq: record.seq)
        if let waiting = wanted.removeValue(forKey: record.hash) {
            for index in waiting {
                anomalies[index].linkedSeq = record.seq
                anomalies[index].linkedForward = true
            }
        }
        predecessor = Anchor(seq: record.seq, hash: record.hash)
        predecessorAnomaly = anomalyIndex
    }

    /// Continues after a range that could not be read (a missing archive file), from its known end;
    /// report the range with `report(_:)`.
    public mutating func skip(to anchor: Anchor) {
        predecessor = anchor
        predecessorAnomaly = nil
        keyed = keyed || anchor.hash.hasPrefix(AuditChain.keyedPrefix)
    }

    /// Adds a finding made outside the chain walk (an archive file's digest, an unreadable line).
    public mutating func report(_ finding: Finding) {
        if findings.count < maxFindings { findings.append(finding) } else { omittedFindings += 1 }
    }

    /// Classifies the broken links and checks for a deleted tail.
    /// - Parameter sequenceValue: the highest seq SQLite ever assigned (`sqlite_sequence`); nil to skip the check.
    public mutating func finish(sequenceValue: Int64?) -> Report {
        for anomaly in anomalies { if let finding = classify(anomaly) { report(finding) } }
        if let sequenceValue, sequenceValue > predecessor.seq {
            let missing = predecessor.seq &+ 1 == sequenceValue ? "seq \(sequenceValue) was" : "seq \(predecessor.seq &+ 1)…\(sequenceValue) were"
            report(Finding(kind: .deleted, seq: predecessor.seq &+ 1, correlationId: nil,
                           explanation: "\(missing) deleted from the end of the log: SQLite assigned seq up to \(sequenceValue) "
                               + "(sqlite_sequence) but the last event present is seq \(predecessor.seq)"))
        }
        findings.sort { ($0.seq, $0.kind.rawValue) < ($1.seq, $1.kind.rawValue) }
        return Report(events: count, anchor: anchor, firstSeq: firstSeq, head: predecessor, findings: findings,
                      omittedFindings: omittedFindings, lastUnkeyedSeq: lastUnkeyedSeq)
    }

    // MARK: internals

    private mutating func recordAnomaly(_ record: RecordedAuditEvent, expectedSeq: Int64, source: String?) -> Int? {
        let missing: ClosedRange<Int64>? = record.seq > expectedSeq ? expectedSeq...(record.seq - 1) : nil
        var anomaly = Anomaly(seq: record.seq, correlationId: record.event.correlationId, source: source,
                              previousHash: record.previousHash, predecessor: predecessor, predecessorAnomaly: predecessorAnomaly,
                              missing: missing, linksToPredecessor: record.previousHash == predecessor.hash)
        if !anomaly.linksToPredecessor { anomaly.linkedSeq = recent[record.previousHash] ?? (record.previousHash == anchor.hash ? anchor.seq : nil) }
        guard anomalies.count < maxAnomalies else {
            // Too many broken links to relate them: each is judged alone, without looking ahead.
            if let finding = classify(anomaly) { report(finding) }
            return nil
        }
        let index = anomalies.count
        anomalies.append(anomaly)
        anomalyBySeq[record.seq] = index
        if !anomaly.linksToPredecessor && anomaly.linkedSeq == nil { wanted[record.previousHash, default: []].append(index) }
        return index
    }

    private mutating func reportGap(_ record: RecordedAuditEvent, expectedSeq: Int64, source: String?) {
        guard record.seq > expectedSeq else { return }
        report(Finding(kind: .deleted, seq: record.seq, correlationId: record.event.correlationId, source: source,
                       explanation: "\(Self.range(expectedSeq...(record.seq - 1))) missing before it"))
    }

    private func classify(_ anomaly: Anomaly) -> Finding? {
        let predecessorName = anomaly.predecessor != anchor ? "seq \(anomaly.predecessor.seq)"
            : anchor == .genesis ? "the start of the chain" : "the archive anchor (seq \(anchor.seq))"
        func finding(_ kind: Finding.Kind, _ explanation: String) -> Finding {
            Finding(kind: kind, seq: anomaly.seq, correlationId: anomaly.correlationId, source: anomaly.source, explanation: explanation)
        }
        if let missing = anomaly.missing {
            if anomaly.linksToPredecessor {
                return finding(.deleted, "\(Self.range(missing)) missing before it, yet it links to \(predecessorName): the seq numbers were rewritten")
            }
            let link = anomaly.linkedSeq.map { "it links to seq \($0) instead" } ?? "its prev_hash \(Self.short(anomaly.previousHash)) belongs to none of the remaining events"
            return finding(.deleted, "\(Self.range(missing)) missing before it; \(link)")
        }
        guard let linked = anomaly.linkedSeq else {
            return finding(.deleted, "its prev_hash \(Self.short(anomaly.previousHash)) belongs to none of the remaining events, "
                + "while \(predecessorName) has hash \(Self.short(anomaly.predecessor.hash)): the event it followed was deleted, "
                + "or \(predecessorName) was replaced by an event with a recomputed hash")
        }
        let direction = anomaly.linkedForward ? "a later event, seq \(linked)," : "seq \(linked)"
        if anomaly.nextBroken {
            return finding(.reordered, "the row is intact but follows \(direction) instead of \(predecessorName), "
                + "and the next event does not follow it: it was moved out of its place")
        }
        let explained = anomaly.predecessorAnomaly.map { anomalies[$0].moved } ?? false
            || anomalyBySeq[linked].map { anomalies[$0].moved } ?? false
        if explained { return nil }  // its true predecessor, or the row before it, is the one that moved
        return finding(.reordered, "the row is intact but follows \(direction) instead of \(predecessorName)")
    }

    private mutating func remember(_ hash: String, seq: Int64) {
        recent[hash] = seq
        if recentOrder.count < window {
            recentOrder.append((hash, seq))
            return
        }
        let evicted = recentOrder[recentStart]
        if recent[evicted.hash] == evicted.seq { recent[evicted.hash] = nil }
        recentOrder[recentStart] = (hash, seq)
        recentStart = (recentStart + 1) % window
    }

    /// A hash shortened for messages: its first 12 hex digits.
    public static func short(_ hash: String) -> String { hash.count > 16 ? "\(hash.prefix(12))…" : hash }

    static func range(_ range: ClosedRange<Int64>) -> String {
        range.lowerBound == range.upperBound ? "seq \(range.lowerBound) is" : "seq \(range.lowerBound)…\(range.upperBound) are"
    }
}
