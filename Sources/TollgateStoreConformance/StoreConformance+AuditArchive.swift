import Foundation
import Testing
import TollgateCore

/// The archive's index: a lookup by correlation id, payer, transaction or nonce is given only the archived ranges whose
/// files name it (and every range archived without an index), so support reads those files and no other.
extension StoreConformance {
    static func archiveIndex(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-archive-index-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let payer = "0xAbC0000000000000000000000000000000000009", nonce = "0x" + String(repeating: "C4", count: 32)
        let transaction = "0x" + String(repeating: "9E", count: 32)
        // Three flows, one archived range each (two events per file), and the newest event, which stays live.
        var proof = event("tg_first", at: 1_000)
        proof.details = ["payer": payer, "nonce": nonce]
        var settle = event("tg_second", at: 3_000)
        settle.details = ["transaction": transaction]
        for events in [[proof, event("tg_first", at: 1_001)], [event("tg_second", at: 2_000), settle], [event("tg_third", at: 4_000)]] {
            try await store.append(events)
        }
        try await store.append([event("tg_live", at: 9_000)])
        var ranges: [AuditArchiveRecord] = []
        while let range = try await store.archiveAudit(olderThanMillis: 5_000, directory: directory, maxEvents: 2, nowMillis: 10_000) {
            ranges.append(range)
        }
        try #require(ranges.count == 3)
        #expect(ranges.allSatisfy { $0.indexed })
        #expect(try await store.auditArchives().map(\.indexed) == [true, true, true])

        func holding(_ keys: Set<String>) async throws -> [Int64] { try await store.auditArchives(holding: keys).map(\.firstSeq) }
        #expect(try await holding(["tg_first"]) == [ranges[0].firstSeq])
        #expect(try await holding(["tg_second", "tg_third"]) == [ranges[1].firstSeq, ranges[2].firstSeq])
        // Payers, transactions and nonces as `tollgate trace` looks them up: in lowercase, whatever the events' case.
        #expect(try await holding([payer.lowercased()]) == [ranges[0].firstSeq])
        #expect(try await holding([nonce.lowercased()]) == [ranges[0].firstSeq])
        #expect(try await holding([transaction.lowercased()]) == [ranges[1].firstSeq])
        #expect(try await holding([payer]).isEmpty)
        // A flow still live, a key nobody named, nothing asked: no file to read.
        #expect(try await holding(["tg_live"]).isEmpty)
        #expect(try await holding(["tg_nobody"]).isEmpty)
        #expect(try await holding([]).isEmpty)
        // A detail that is not a lookup field is not indexed.
        #expect(try await holding(["1001"]).isEmpty)

        // Indexing a range adds to what it names; a range that does not exist is refused.
        try await store.indexAuditArchive(firstSeq: ranges[2].firstSeq, keys: ["tg_also"])
        #expect(try await holding(["tg_also", "tg_third"]) == [ranges[2].firstSeq])
        await #expect(throws: TollgateError.self) { try await store.indexAuditArchive(firstSeq: 999, keys: ["tg_x"]) }
        #expect(try await store.verifyAuditLog(archives: directory).isIntact)
    }
}
