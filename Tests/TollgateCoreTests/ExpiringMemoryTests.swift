import Testing
import TollgateCore

@Suite struct ExpiringMemoryTests {
    @Test func aKeyIsForgottenWhenItExpiresAndRememberingItAgainExtendsIt() {
        let memory = ExpiringMemory<String, Int>(capacity: 10, ttlSeconds: 60)
        memory.remember("a", 1, now: 0)
        #expect(memory.value(for: "a", now: 59.9) == 1)
        #expect(memory.value(for: "a", now: 60) == nil)
        memory.remember("a", 2, now: 50)
        #expect(memory.value(for: "a", now: 100) == 2)
        #expect(memory.count == 1)
    }

    @Test func aFloodOfDistinctKeysNeverHoldsMoreThanTheCapacityAndTheOldestGoFirst() {
        let memory = ExpiringMemory<Int, Bool>(capacity: 3, ttlSeconds: 60)
        for key in 0..<1000 { memory.remember(key, true, now: 0) }
        #expect(memory.count == 3)
        #expect(memory.value(for: 999, now: 1) == true)
        #expect(memory.value(for: 997, now: 1) == true)
        #expect(memory.value(for: 996, now: 1) == nil)
    }
}
