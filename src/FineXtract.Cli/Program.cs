using System.CommandLine;
using FineXtract;
using FineXtract.Cli;
using FineXtract.Cli.Commands;

TorchRuntime.Initialize();
var root = new RootCommand("finextract: extract the training images of fine-tuned Stable Diffusion models (FineXtract, ICML 2025).");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);

return await CliRunner.RunAsync(root, args);
