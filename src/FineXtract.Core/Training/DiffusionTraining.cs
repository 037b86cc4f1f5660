using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Training;

/// <summary>
/// The latent-diffusion training objective (sd-formats.md §6.3) shared by the base, DreamBooth and LoRA trainers:
/// z = VAE sample × scaling factor, t ~ U{0..999}, x_t = add_noise(z, ε, t), loss = MSE(UNet(x_t, t, text), ε).
/// </summary>
public static class DiffusionTraining
{
    /// <summary>Freezes a module: no gradients, eval mode.</summary>
    public static void Freeze(nn.Module module)
    {
        foreach (var p in module.parameters()) p.requires_grad_(false);
        module.eval();
    }

    /// <summary>Scaled latent samples of images in [−1,1] (the frozen VAE, no graph), drawing ε from <paramref name="generator"/>.</summary>
    public static Tensor EncodeLatents(AutoencoderKL vae, Tensor images, Generator generator)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (mean, logvar) = vae.Encode(images);
        return SampleLatents(mean, (0.5 * logvar).exp(), vae.Config.ScalingFactor, generator).MoveToOuterDisposeScope();
    }

    /// <summary>(mean + std·ε) · scaling, diffusers' <c>latent_dist.sample() * scaling_factor</c>.</summary>
    public static Tensor SampleLatents(Tensor mean, Tensor std, double scaling, Generator generator)
    {
        using var scope = NewDisposeScope();
        var eps = randn(mean.shape, mean.dtype, mean.device, generator: generator);
        return ((mean + std * eps) * scaling).MoveToOuterDisposeScope();
    }

    /// <summary>ε-prediction MSE at uniformly drawn timesteps; noise and timesteps from <paramref name="generator"/>.</summary>
    public static Tensor EpsilonLoss(UNet2DConditionModel unet, NoiseSchedule schedule, Tensor latents, Tensor context, Generator generator)
    {
        using var scope = NewDisposeScope();
        long batch = latents.shape[0];
        var noise = randn(latents.shape, latents.dtype, latents.device, generator: generator);
        var t = randint(0, schedule.NumTrainTimesteps, [batch], ScalarType.Int64, latents.device, generator: generator);
        var noisy = schedule.AddNoise(latents, noise, t);
        var pred = unet.forward(noisy, t, context);
        return F.mse_loss(pred, noise).MoveToOuterDisposeScope();
    }
}
