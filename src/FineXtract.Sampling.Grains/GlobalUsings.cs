global using FineXtract.Grains;
global using Orleans;
