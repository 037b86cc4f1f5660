using TorchSharp;
Console.WriteLine(torch.matmul(torch.ones(2, 3), torch.ones(3, 2)).ToString(TorchSharp.TensorStringStyle.Numpy));
var conv = torch.nn.Conv2d(3, 4, 3);
Console.WriteLine(string.Join(",", conv.call(torch.randn(1, 3, 8, 8)).shape));
var q = torch.randn(1, 2, 5, 4);
Console.WriteLine(string.Join(",", torch.nn.functional.scaled_dot_product_attention(q, q, q).shape));
