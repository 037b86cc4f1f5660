using FineXtract.Diffusion.Models;

namespace FineXtract.Cli.Benchmarks;

/// <summary>
/// Multiply-add work (2 FLOPs each) of one UNet forward, counted from its config: convolutions, linear layers and
/// attention matmuls. Norms and activations are left out, as is usual for GFLOP/s figures.
/// </summary>
public static class UNetFlops
{
    public static double Count(UNet2DConditionConfig c, long batch, long height, long width, long contextLength)
    {
        double total = 0;
        long hw = height * width;
        double Conv(long cin, long cout, long k, long pixels) => 2.0 * cin * cout * k * k * pixels;
        double Resnet(long cin, long cout, long pixels) =>
            Conv(cin, cout, 3, pixels) + Conv(cout, cout, 3, pixels) + (cin != cout ? Conv(cin, cout, 1, pixels) : 0) + 2.0 * c.TimeEmbeddingDim * cout;
        double Transformer(long ch, long pixels)
        {
            double proj = 2 * 2.0 * ch * ch * pixels;
            double self = 4 * 2.0 * ch * ch * pixels + 2 * 2.0 * pixels * pixels * ch;
            double cross = 2 * 2.0 * ch * ch * pixels + 2 * 2.0 * c.CrossAttentionDim * ch * contextLength + 2 * 2.0 * pixels * contextLength * ch;
            double ff = 2.0 * ch * 8 * ch * pixels + 2.0 * 4 * ch * ch * pixels;
            return proj + self + cross + ff;
        }

        var ch = c.BlockOutChannels;
        int n = ch.Length, layers = c.LayersPerBlock;
        total += Conv(c.InChannels, ch[0], 3, hw);
        var skipChannels = new Stack<long>();
        skipChannels.Push(ch[0]);
        long pix = hw, prev = ch[0];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < layers; j++)
            {
                total += Resnet(j == 0 ? prev : ch[i], ch[i], pix);
                if (c.DownBlockTypes[i] == "CrossAttnDownBlock2D") total += Transformer(ch[i], pix);
                skipChannels.Push(ch[i]);
            }
            prev = ch[i];
            if (i < n - 1)
            {
                pix /= 4;
                total += Conv(ch[i], ch[i], 3, pix);
                skipChannels.Push(ch[i]);
            }
        }
        total += 2 * Resnet(ch[^1], ch[^1], pix) + Transformer(ch[^1], pix);
        var reversed = ch.Reverse().ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= layers; j++)
            {
                long skip = skipChannels.Pop();
                total += Resnet((j == 0 ? prev : reversed[i]) + skip, reversed[i], pix);
                if (c.UpBlockTypes[i] == "CrossAttnUpBlock2D") total += Transformer(reversed[i], pix);
            }
            prev = reversed[i];
            if (i < n - 1)
            {
                pix *= 4;
                total += Conv(reversed[i], reversed[i], 3, pix);
            }
        }
        total += Conv(ch[0], c.OutChannels, 3, hw);
        return total * batch;
    }
}
