using FineXtract.Extraction.Pipeline;

namespace FineXtract.Tests.Extraction;

public sealed class FineTuneMetadataTests
{
    [Fact]
    public void NCountsDistinctImagesNotRepeats()
    {
        // What kohya writes for 5 images × 200 repeats plus a second folder of 3 images.
        var metadata = new Dictionary<string, string>
        {
            ["ss_num_train_images"] = "1060",
            ["ss_dataset_dirs"] = "{\"200_sks dog\": {\"n_repeats\": 200, \"img_count\": 5}, \"20_dog\": {\"n_repeats\": 20, \"img_count\": 3}}",
        };
        Assert.Equal(8, FineTuneMetadata.NumTrainImages(metadata));
    }

    [Fact]
    public void NewerKohyaDatasetsListSubsets()
    {
        var metadata = new Dictionary<string, string>
        {
            ["ss_datasets"] = "[{\"is_dreambooth\": true, \"subsets\": [{\"img_count\": 12, \"num_repeats\": 10}, {\"img_count\": 4, \"num_repeats\": 1}]}]",
        };
        Assert.Equal(16, FineTuneMetadata.NumTrainImages(metadata));
    }

    [Fact]
    public void RepeatInflatedTotalsAloneGiveNoN()
    {
        Assert.Null(FineTuneMetadata.NumTrainImages(new Dictionary<string, string> { ["ss_num_train_images"] = "1000" }));
        Assert.Null(FineTuneMetadata.NumTrainImages(new Dictionary<string, string> { ["ss_dataset_dirs"] = "not json" }));
        Assert.Null(FineTuneMetadata.NumTrainImages(null));
    }
}
