import Testing
import TollgateCore
@testable import TollgateDesign

/// The design shows the journey's own stages: every step names one of the machine's stages, and every stage of
/// the machine is shown by some step.
@Suite struct FlowStageTests {
    @Test func everyStepBelongsToAStageOfTheJourneyAndEveryStageIsShown() {
        let stages = Set(JourneyStage.all.map(\.id))
        #expect(Set(FlowStep.stages.keys).count == FlowStep.stages.count)
        for (step, stage) in FlowStep.stages {
            #expect(stages.contains(stage.rawValue), "\(step) → \(stage) is not a stage of the journey")
        }
        #expect(Set(FlowStep.stages.values.map(\.rawValue)) == stages)
        #expect(FlowStep(id: "reserve", title: "reserve", lane: .proof, owner: .gateway, checks: []).stageLabel == "reserve (single-use claim)")
        #expect(FlowStep(id: "new_step", title: "new", lane: .proof, owner: .gateway, checks: []).stage == "unknown")
    }
}

extension FlowStageTests {
    @Test(arguments: DesignReportTests.fixtures)
    func everyDerivedStepHasItsStage(_ name: String) throws {
        let flow = try DesignReportTests.report(name).flow
        #expect(!flow.isEmpty)
        #expect(flow.filter { $0.stage == "unknown" }.map(\.id) == [])
    }
}
