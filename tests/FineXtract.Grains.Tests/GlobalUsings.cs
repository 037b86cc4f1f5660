global using FineXtract.Grains;
global using FineXtract.Tests;
global using Orleans;
