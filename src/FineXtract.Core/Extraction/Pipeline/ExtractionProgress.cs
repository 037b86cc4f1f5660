namespace FineXtract.Extraction.Pipeline;

/// <summary>Where a run is: phase, images done, UNet evaluations per second, time left.</summary>
public sealed record ExtractionProgress(string Phase, int ImagesDone, int ImagesTotal, double UNetEvaluationsPerSecond, TimeSpan? Remaining);
