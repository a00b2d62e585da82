import HTTPTypes
import Testing
@testable import TollgateCore

/// Correlation ids keep their spelling (`tg_` + 32 hex digits), stay unguessable, and sort by the time they were made,
/// so the store's indexes on them grow at one end.
@Suite struct CorrelationIdTests {
    static func isWellFormed(_ id: String) -> Bool {
        id.hasPrefix("tg_") && id.utf8.count == 35 && id.dropFirst(3).allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    @Test func sortsByTimeAndIsUniqueWithinAMillisecond() {
        let earlier = (0..<200).map { _ in CorrelationId.make(nowMillis: 1_780_000_000_000) }
        let later = (0..<200).map { _ in CorrelationId.make(nowMillis: 1_780_000_000_001) }
        #expect((earlier + later).allSatisfy(Self.isWellFormed))
        #expect(Set(earlier).count == earlier.count)
        #expect(earlier.allSatisfy { first in later.allSatisfy { first < $0 } })
        // The first 12 hex digits are the time, the rest random: ids of one millisecond share only that prefix.
        #expect(Set(earlier.map { $0.prefix(15) }).count == 1)
        #expect(Set(earlier.map { $0.dropFirst(15) }).count == earlier.count)
    }

    @Test func madeNowCarriesTheTimeItWasMadeAt() throws {
        let before = SystemClock().nowMillis()
        let id = CorrelationId.make()
        let after = SystemClock().nowMillis()
        #expect(Self.isWellFormed(id))
        let millis = try #require(Int64(id.dropFirst(3).prefix(12), radix: 16))
        #expect(millis >= before && millis <= after)
    }

    /// The gateway stamps its flows with its own clock (`GatewayClock`), so a test's clock orders them, the 402's terms
    /// and a refused proof's fresh terms alike.
    @Test func theGatewayStampsIdsWithItsOwnClock() async throws {
        let harness = GatewayHarness()
        let offer = await harness.send("/datasets/prices")
        let id = try #require(offer.headerFields[.tollgateCorrelationId])
        #expect(Self.isWellFormed(id))
        #expect(Int64(id.dropFirst(3).prefix(12), radix: 16) == harness.clock.nowMillis())
        harness.clock.advance(seconds: 10)
        let later = try #require(await harness.send("/datasets/prices").headerFields[.tollgateCorrelationId])
        #expect(Int64(later.dropFirst(3).prefix(12), radix: 16) == harness.clock.nowMillis())
        #expect(id < later)
    }

    @Test func carriesEightyRandomBits() {
        // 16 random bits follow the time in the first half and 64 fill the second: across many ids each of those hex
        // digits takes many values.
        let ids = (0..<500).map { _ in Array(CorrelationId.make(nowMillis: 1_780_000_000_000).utf8.dropFirst(3)) }
        for position in 12..<32 {
            #expect(Set(ids.map { $0[position] }).count > 8, "hex digit \(position) barely varies")
        }
    }

    @Test("ids made on many threads at once, across several refills of the random pool, are all distinct")
    func concurrentIdsAreDistinct() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<1000).map { _ in CorrelationId.make(nowMillis: 1_780_000_000_000) } }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.count == 8000)
        #expect(Set(ids).count == 8000)
    }
}
