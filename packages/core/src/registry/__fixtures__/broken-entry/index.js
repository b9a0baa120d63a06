throw new Error('cannot connect to the licence server');
