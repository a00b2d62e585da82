import Testing
import TollgateCore

/// The audit chain as an evidence bundle states it: each event recomputes and links on both sides; on a keyed chain an
/// unkeyed hash after a keyed one is someone without the key rewriting it.
@Suite struct EvidenceBundleChainTests {
    static let key = SecretKey(id: "a1", secret: Array(repeating: 3, count: 32))!

    /// Three events of one flow, keyed as far as `keyedUpTo` (seq), then unkeyed, each linking to the one before.
    static func material(keyedUpTo: Int64) -> EvidenceMaterial {
        var previous = AuditChain.genesis
        let records = (1...3).map { seq -> RecordedAuditEvent in
            let event = AuditEvent(correlationId: "tg_flow", timeMillis: 1_750_000_000_000 + Int64(seq), stage: .offer, outcome: .issued,
                                   details: ["n": "\(seq)"])
            let hash = Int64(seq) <= keyedUpTo ? AuditChain.keyedHash(previous: previous, seq: Int64(seq), event: event, key: key)
                : AuditChain.hash(previous: previous, event: event)
            defer { previous = hash }
            return RecordedAuditEvent(seq: Int64(seq), event: event, previousHash: previous, hash: hash)
        }
        let logged = records.indices.map { index in
            EvidenceMaterial.LoggedEvent(record: records[index], precedingHash: index == 0 ? AuditChain.genesis : records[index - 1].hash,
                                         following: index + 1 < records.count ? .init(seq: records[index + 1].seq, previousHash: records[index + 1].previousHash) : nil)
        }
        return EvidenceMaterial(correlationId: "tg_flow", events: logged, linked: [], proofs: [], payments: [], refunds: [],
                                chainHead: .init(seq: 3, hash: records[2].hash))
    }

    @Test func anUnkeyedEventAfterAKeyedOneDoesNotRecompute() throws {
        let keys = KeyRing([Self.key])
        let intact = try EvidenceBundle.assemble(Self.material(keyedUpTo: 3), dispute: nil, offers: nil, auditKeys: keys, generatedAtMillis: 0)
        #expect(intact.auditChainIntact)
        let downgraded = try EvidenceBundle.assemble(Self.material(keyedUpTo: 1), dispute: nil, offers: nil, auditKeys: keys, generatedAtMillis: 0)
        #expect(downgraded.auditChain.filter { !$0.recomputed }.map(\.seq) == [2, 3])
        #expect(!downgraded.auditChainIntact)
        // A chain unkeyed throughout (written before keys existed) is no downgrade.
        let legacy = try EvidenceBundle.assemble(Self.material(keyedUpTo: 0), dispute: nil, offers: nil, auditKeys: keys, generatedAtMillis: 0)
        #expect(legacy.auditChainIntact)
    }

    @Test func anEventWhoseNextRowDoesNotLinkToItIsUnlinked() throws {
        var material = Self.material(keyedUpTo: 0)
        material.events[2].following = .init(seq: 5, previousHash: "0" + String(repeating: "f", count: 63))
        let bundle = try EvidenceBundle.assemble(material, dispute: nil, offers: nil, generatedAtMillis: 0)
        #expect(bundle.auditChain.filter { !$0.linked }.map(\.seq) == [3])
    }
}
