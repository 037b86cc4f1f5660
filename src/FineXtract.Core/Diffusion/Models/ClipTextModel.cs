using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Diffusion.Models;

/// <summary>The fields of transformers' CLIPTextConfig that SD's text encoders use.</summary>
public sealed record ClipTextConfig
{
    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int MaxPositionEmbeddings { get; init; } = 77;
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;
    public int EosTokenId { get; init; } = 2;

    public static ClipTextConfig FromJson(ConfigJson c)
    {
        var d = new ClipTextConfig();
        var cfg = d with
        {
            VocabSize = c.Int("vocab_size", d.VocabSize),
            HiddenSize = c.Int("hidden_size", d.HiddenSize),
            IntermediateSize = c.Int("intermediate_size", d.IntermediateSize),
            NumHiddenLayers = c.Int("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = c.Int("num_attention_heads", d.NumAttentionHeads),
            MaxPositionEmbeddings = c.Int("max_position_embeddings", d.MaxPositionEmbeddings),
            HiddenAct = c.String("hidden_act", d.HiddenAct)!,
            LayerNormEps = c.Double("layer_norm_eps", d.LayerNormEps),
            EosTokenId = c.Int("eos_token_id", d.EosTokenId),
        };
        if (cfg.HiddenAct is not ("quick_gelu" or "gelu"))
            throw new FineXtractException($"{c.Source}: hidden_act '{cfg.HiddenAct}' is not supported (quick_gelu or gelu)");
        if (cfg.HiddenSize % cfg.NumAttentionHeads != 0)
            throw new FineXtractException($"{c.Source}: hidden_size {cfg.HiddenSize} is not divisible by num_attention_heads {cfg.NumAttentionHeads}");
        return cfg;
    }
}

/// <summary>Outputs of the text encoder: <c>last_hidden_state</c> (after the final LayerNorm), the pooled
/// EOS state and every layer's hidden states (embeddings first) for "clip skip".</summary>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor PooledOutput, IReadOnlyList<Tensor> HiddenStates) : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PooledOutput.Dispose();
        foreach (var h in HiddenStates) h.Dispose();
    }
}

/// <summary>
/// transformers' <c>CLIPTextModel</c> (key prefix <c>text_model.</c>): token + position embeddings, pre-LN
/// transformer layers with a causal mask, final LayerNorm. Position ids are always 0..76: merged civitai
/// checkpoints often carry a corrupted <c>position_ids</c> buffer, which is therefore never loaded.
/// </summary>
public sealed class ClipTextModel : nn.Module
{
    private readonly ClipTextTransformer text_model;

    public ClipTextConfig Config { get; }

    public ClipTextModel(ClipTextConfig config) : base(nameof(ClipTextModel))
    {
        Config = config;
        text_model = new ClipTextTransformer(config);
        RegisterComponents();
    }

    public ClipTextOutput Forward(Tensor inputIds) => text_model.Forward(inputIds);

    private sealed class ClipTextTransformer : nn.Module
    {
        private readonly ClipEmbeddings embeddings;
        private readonly ClipEncoder encoder;
        private readonly LayerNorm final_layer_norm;
        private readonly ClipTextConfig _config;

        public ClipTextTransformer(ClipTextConfig c) : base("ClipTextTransformer")
        {
            _config = c;
            embeddings = new ClipEmbeddings(c);
            encoder = new ClipEncoder(c);
            final_layer_norm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
            RegisterComponents();
        }

        public ClipTextOutput Forward(Tensor inputIds)
        {
            using var scope = NewDisposeScope();
            if (inputIds.shape[^1] > _config.MaxPositionEmbeddings)
                throw new FineXtractException($"input_ids have {inputIds.shape[^1]} tokens; the text encoder takes at most {_config.MaxPositionEmbeddings}");
            var hidden = new List<Tensor> { embeddings.forward(inputIds) };
            foreach (var layer in encoder.Layers) hidden.Add(layer.forward(hidden[^1]));
            var last = final_layer_norm.forward(hidden[^1]);

            // transformers: with the legacy eos_token_id 2 the pooled token is argmax(ids) (the first <|endoftext|>,
            // the highest id); otherwise the first position holding eos_token_id.
            var ids = inputIds.to_type(ScalarType.Int64);
            var eosIndex = _config.EosTokenId == 2 ? ids.argmax(-1) : (ids == _config.EosTokenId).to_type(ScalarType.Int32).argmax(-1);
            var pooled = last[arange(last.shape[0], device: last.device), eosIndex];
            var output = new ClipTextOutput(last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope(),
                hidden.Select(h => h.MoveToOuterDisposeScope()).ToList());
            return output;
        }
    }

    private sealed class ClipEmbeddings : nn.Module<Tensor, Tensor>
    {
        private readonly Embedding token_embedding;
        private readonly Embedding position_embedding;

        public ClipEmbeddings(ClipTextConfig c) : base("ClipEmbeddings")
        {
            token_embedding = nn.Embedding(c.VocabSize, c.HiddenSize);
            position_embedding = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize);
            RegisterComponents();
        }

        public override Tensor forward(Tensor inputIds)
        {
            using var scope = NewDisposeScope();
            var positions = arange(inputIds.shape[^1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
            return (token_embedding.forward(inputIds.to_type(ScalarType.Int64)) + position_embedding.forward(positions))
                .MoveToOuterDisposeScope();
        }
    }

    private sealed class ClipEncoder : nn.Module
    {
        private readonly ModuleList<ClipEncoderLayer> layers;

        public IEnumerable<ClipEncoderLayer> Layers => layers;

        public ClipEncoder(ClipTextConfig c) : base("ClipEncoder")
        {
            layers = nn.ModuleList(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new ClipEncoderLayer(c)).ToArray());
            RegisterComponents();
        }
    }

    private sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm layer_norm1;
        private readonly ClipAttention self_attn;
        private readonly LayerNorm layer_norm2;
        private readonly ClipMlp mlp;

        public ClipEncoderLayer(ClipTextConfig c) : base("ClipEncoderLayer")
        {
            layer_norm1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
            self_attn = new ClipAttention(c);
            layer_norm2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
            mlp = new ClipMlp(c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            x = x + self_attn.forward(layer_norm1.forward(x));
            x = x + mlp.forward(layer_norm2.forward(x));
            return x.MoveToOuterDisposeScope();
        }
    }

    private sealed class ClipAttention : nn.Module<Tensor, Tensor>
    {
        private readonly Linear q_proj;
        private readonly Linear k_proj;
        private readonly Linear v_proj;
        private readonly Linear out_proj;
        private readonly int _heads;

        public ClipAttention(ClipTextConfig c) : base("ClipAttention")
        {
            _heads = c.NumAttentionHeads;
            q_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
            k_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
            v_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
            out_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            long b = x.shape[0], n = x.shape[1];
            Tensor Split(Tensor t) => t.view(b, n, _heads, -1).transpose(1, 2);
            var o = F.scaled_dot_product_attention(Split(q_proj.forward(x)), Split(k_proj.forward(x)), Split(v_proj.forward(x)), is_casual: true);
            return out_proj.forward(o.transpose(1, 2).reshape(b, n, -1)).MoveToOuterDisposeScope();
        }
    }

    private sealed class ClipMlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc1;
        private readonly Linear fc2;
        private readonly bool _quickGelu;

        public ClipMlp(ClipTextConfig c) : base("ClipMlp")
        {
            fc1 = nn.Linear(c.HiddenSize, c.IntermediateSize);
            fc2 = nn.Linear(c.IntermediateSize, c.HiddenSize);
            _quickGelu = c.HiddenAct == "quick_gelu";
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = fc1.forward(x);
            h = _quickGelu ? h * torch.sigmoid(1.702 * h) : F.gelu(h);
            return fc2.forward(h).MoveToOuterDisposeScope();
        }
    }
}
